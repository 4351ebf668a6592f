"""A burst of delivery reports: 2,000 POSTs at once to the real webhook process, one report each.

Every answer must be 2xx (a 503 the gateway cannot retry in time is a lost report), and
afterwards every message must be `delivered` with exactly one `delivered` outcome event.
Before the webhook used a blocking Redis pool, about half of such a burst was answered 503
(redis-py's asyncio pool raises MaxConnectionsError when full instead of waiting).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import ConnectionError as RedisConnectionError

from config.settings import Settings
from core import keys, ledger, redis_pool
from core.redis_pool import async_redis
from dispatcher.reports import webhook
from dispatcher.stack import Stack
from tests.chaos import HOOK_PASSWORD, HOOK_USER, descriptors, post_reports
from tests.unit.sent_kit import in_flight

pytestmark = pytest.mark.integration

REPORTS = 2000  # 31 times the webhook's Redis pool (core.redis_pool.MAX_CONNECTIONS)
CAMPAIGN = "burst"


def message_id(i: int) -> str:
    return f"{CAMPAIGN}-{i}"


@pytest.mark.unmeasured
def test_a_burst_of_single_report_posts_loses_nothing(
    r: redis.Redis, redis_url: str, stack: Stack
) -> None:
    in_flight(r, *(message_id(i) for i in range(REPORTS)))  # sent: reports apply to them
    stack.sandbox()  # a configured gateway: the webhook refuses to start without credentials
    with descriptors(REPORTS * 2 + 1000):
        url = stack.webhook(HOOK_USER, HOOK_PASSWORD)
        started = time.monotonic()
        statuses = asyncio.run(post_reports(url, [message_id(i) for i in range(REPORTS)]))
        elapsed = time.monotonic() - started

    by_status = Counter(statuses)
    assert all(200 <= s < 300 for s in statuses), f"{dict(by_status)} in {elapsed:.1f}s"

    states = Counter(ledger.states(r, [message_id(i) for i in range(REPORTS)]))
    assert states == {"delivered": REPORTS}, states

    events = Counter()
    for _, fields in r.xrange(keys.OUTCOMES):
        events[fields[b"state"].decode()] += 1
    assert events == {"delivered": REPORTS}, events
    assert r.xlen(keys.OUTCOMES) == REPORTS


# -- the blocking pool underneath ----------------------------------------------------------


def test_the_blocking_pool_makes_callers_wait_for_a_connection(
    r: redis.Redis, redis_url: str
) -> None:
    async def go() -> list[object]:
        client = async_redis(redis_url, max_connections=2)
        try:
            pool = client.connection_pool
            assert isinstance(pool, aioredis.BlockingConnectionPool)
            assert (pool.max_connections, pool.timeout) == (2, redis_pool.WAIT_TIMEOUT_S)
            assert pool.connection_kwargs["socket_timeout"] == redis_pool.SOCKET_TIMEOUT_S
            return await asyncio.gather(*(client.incr("burst:n") for _ in range(500)))
        finally:
            await client.aclose()

    assert sorted(asyncio.run(go())) == list(range(1, 501))


def test_redis_pys_default_pool_raises_when_full_instead(r: redis.Redis, redis_url: str) -> None:
    """Why core.redis_pool exists: the plain asyncio pool fails a burst outright."""

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url, max_connections=2)
        try:
            await asyncio.gather(*(client.incr("burst:n") for _ in range(500)))
        finally:
            await client.aclose()

    with pytest.raises(RedisConnectionError):
        asyncio.run(go())


def test_a_caller_that_waits_past_the_pool_timeout_gets_a_redis_error(
    r: redis.Redis, redis_url: str
) -> None:
    async def go() -> None:
        client = async_redis(redis_url, max_connections=1, wait_timeout=0.2)
        try:
            held = asyncio.create_task(client.blpop(["burst:never"], timeout=1))
            await asyncio.sleep(0.05)
            try:
                await client.ping()  # no free connection for 0.2 s
            finally:
                await held
        finally:
            await client.aclose()

    with pytest.raises(RedisConnectionError):
        asyncio.run(go())


def test_the_webhook_opens_its_redis_on_the_blocking_pool(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, webhook_username="u", webhook_password="p")

    async def go() -> object:
        app = webhook.make_app(settings)
        async with TestClient(TestServer(app)):
            return app[webhook.REDIS_KEY].connection_pool

    pool = asyncio.run(go())
    assert isinstance(pool, aioredis.BlockingConnectionPool)
    assert pool.max_connections == redis_pool.MAX_CONNECTIONS
