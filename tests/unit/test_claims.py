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


def test_a_claim_keeps_other_runs_away_and_ours_is_refreshed(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        assert (await call(Mode.START, "a")).ours == D
        for mode in (Mode.START, Mode.CLAIM):
            other = await call(mode, "b")
            assert other.ours == [] and [d for d, _ in other.busy] == D
            assert all(SETTLE - 2_000 < wait <= SETTLE for _, wait in other.busy)
        assert (await call(Mode.CLAIM, "a")).ours == D  # our own: re-stamped, still ours

    on(body)


def test_settled_claims_go_to_whoever_took_them_over_last(on: Callable[[Body], None]) -> None:
    """Two runs may both take over and ask the gateway; only the last can then send."""

    async def body(client: Any, call: Any) -> None:
        for d in D:
            await client.hset(keys.message(d.message_id), "claim", "dead:1")
        assert (await call(Mode.CLAIM, "b")).ours == []  # never taken right before a request
        assert (await call(Mode.START, "b")).unknown == D  # a run starting takes them over
        assert (await call(Mode.START, "c")).unknown == D  # the old stamp stays: b may be dead
        assert (await call(Mode.CLAIM, "b")).ours == []  # b lost them: it defers
        assert (await call(Mode.CLAIM, "c")).ours == D  # c sends (stamped now)
        assert (await call(Mode.START, "d")).busy  # and c's claim is young again

    on(body)


def test_sent_and_suppressed_are_not_claimed(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        await client.hset(keys.message("c-0"), mapping={"state": "accepted", "rank": 2})
        await client.sadd(keys.SUPPRESSED, D[1].to)
        found = await call(Mode.START, "a")
        assert (found.sent, found.suppressed, found.ours) == ([D[0]], [D[1]], D[2:])
        assert await client.hget(keys.message("c-0"), "claim") is None

    on(body)


def test_a_claim_makes_a_message_hash_that_expires_and_knows_its_campaign(
    on: Callable[[Body], None],
) -> None:
    async def body(client: Any, call: Any) -> None:
        await call(Mode.START, "a", D[:1])
        key = keys.message("c-0")
        assert await client.ttl(key) > 0 and await client.hget(key, "campaign") == b"c"
        assert (await client.hget(key, "claim")).startswith(b"a:")

    on(body)
