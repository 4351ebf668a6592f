"""claim.lua: who may send a destination, on fakeredis and on the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis

from dispatcher import keys
from dispatcher.batch import Destination
from workers.claims import Claims, Mode, claims

D = [Destination(f"c-{i}", f"6681234560{i}") for i in range(4)]
SETTLE = 10_000
Body = Callable[[Any, Callable[..., Awaitable[Claims]]], Awaitable[None]]


@pytest.fixture(params=["fakeredis", "redis"])
def on(request: pytest.FixtureRequest, redis_url: str) -> Callable[[Body], None]:
    """Run an async test body with a client of each kind (one event loop per run)."""

    def runner(body: Body) -> None:
        async def go() -> None:
            if request.param == "fakeredis":
                client: Any = fakeredis.FakeAsyncRedis()
            else:
                client = aioredis.Redis.from_url(redis_url)
                await client.flushdb()

            async def call(mode: Mode, token: str, dests: list[Destination] = D) -> Claims:
                return await claims(client, mode, token, SETTLE, "c", dests)

            try:
                await body(client, call)
            finally:
                await client.flushdb()
                await client.aclose()

        asyncio.run(go())

    return runner


def test_claim_then_others_wait_and_we_refresh(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        assert (await call(Mode.CLAIM, "a")).ours == D
        other = await call(Mode.CLAIM, "b")
        assert other.ours == [] and [d for d, _ in other.busy] == D
        assert all(SETTLE - 2_000 < wait <= SETTLE for _, wait in other.busy)
        assert (await call(Mode.CLAIM, "a")).ours == D  # our own: re-stamped, still ours
        assert (await call(Mode.INSPECT, "b")).busy and (await call(Mode.INSPECT, "a")).ours == D

    on(body)


def test_settled_claims_go_to_whoever_took_them_over_last(on: Callable[[Body], None]) -> None:
    """Two runs may both take over and ask the gateway; only the last can then send."""

    async def body(client: Any, call: Any) -> None:
        for d in D:
            await client.hset(keys.message(d.message_id), mapping={"claim": "dead", "claimed": 1})
        assert (await call(Mode.INSPECT, "b")).unknown == D
        assert (await call(Mode.TAKEOVER, "b")).ours == D
        assert (await call(Mode.TAKEOVER, "c")).ours == D  # the stamp stays old: b may be dead
        assert (await call(Mode.CLAIM, "b")).ours == []  # b lost it: it defers
        assert (await call(Mode.CLAIM, "c")).ours == D  # c sends
        assert (await call(Mode.TAKEOVER, "d")).ours == []  # and c's claim is young again

    on(body)


def test_sent_suppressed_and_free(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        await client.hset(keys.message("c-0"), mapping={"state": "accepted", "rank": 2})
        await client.sadd(keys.SUPPRESSED, D[1].to)
        found = await call(Mode.INSPECT, "a")
        assert (found.sent, found.suppressed, found.ours) == ([D[0]], [D[1]], D[2:])
        assert (await call(Mode.TAKEOVER, "a", D[2:])).free == D[2:]  # no claim: nothing to ask

    on(body)


def test_a_claim_makes_a_message_hash_that_expires_and_knows_its_campaign(
    on: Callable[[Body], None],
) -> None:
    async def body(client: Any, call: Any) -> None:
        await call(Mode.CLAIM, "a", D[:1])
        key = keys.message("c-0")
        assert await client.ttl(key) > 0 and await client.hget(key, "campaign") == b"c"

    on(body)
