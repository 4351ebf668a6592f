"""Script loading by name, NOSCRIPT fallback, and the async twin (on both backends)."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio

from core.limits import AsyncLimiter, Limit, Limiter, Rate
from core.limits.scripts import SCRIPT_NAMES, script, source
from providers.ants import PROFILE as ANTS

ANTS_FLOODING = (ANTS.flood_varied, ANTS.flood_identical)

OTP_SENDS = (Limit(3, 86_400_000), Limit(10_000, 86_400_000))  # per phone, per app


def test_every_script_is_read_from_its_file_by_name() -> None:
    for name in SCRIPT_NAMES:
        assert "redis.call('TIME')" in source(name)
    with pytest.raises(KeyError, match="no limiter script named 'nope'"):
        source("nope")


def test_scripts_are_registered_once_per_client(backend: redis.Redis) -> None:
    assert script(backend, "gcra") is script(backend, "gcra")
    other = redis.Redis(db=13)  # never connects: registering is local
    assert script(other, "gcra") is not script(backend, "gcra")


def test_noscript_falls_back_on_loading_the_source(
    fake: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SCRIPT FLUSH is server-wide, so only on fakeredis (the real server is shared)
    limiter = Limiter(fake)
    assert limiter.throughput("acct", Rate.parse("1/1s"), 0, [1]) == [0]
    fake.script_flush()
    assert limiter.throughput("acct", Rate.parse("1/1s"), 0, [1])[0] > 0


def _async_client(name: str, redis_url: str) -> Any:
    if name == "fakeredis":
        return fakeredis.FakeAsyncRedis()
    return redis.asyncio.Redis.from_url(redis_url)


@pytest.mark.parametrize("kind", ["fakeredis", "redis"])
def test_the_async_limiter_gives_the_same_answers(
    kind: str, redis_url: str, r: redis.Redis
) -> None:
    async def scenario() -> list[Any]:
        aclient = _async_client(kind, redis_url)
        await aclient.flushdb()
        limiter = AsyncLimiter(aclient)
        try:
            return [
                await limiter.throughput("acct", Rate.parse("200/1s"), 1, [1, 1, 1]),
                await limiter.flooding([("668", "same")] * 7, *ANTS_FLOODING),
                await limiter.windows([[("sms:rl:test", Limit(1, 1_000))]] * 2),
                [await limiter.otp_send_allowed("app", "668", *OTP_SENDS) for _ in range(4)],
                [await limiter.otp_verify_allowed("668", Limit(1, 3_000)) for _ in range(2)],
                [await limiter.acquire("smsc", 1, h, 10_000) for h in ("a", "b")],
                await limiter.release("smsc", "a"),
                await limiter.throughput("acct", Rate.parse("200/1s"), 1, []),
            ]
        finally:
            await aclient.flushdb()
            await aclient.aclose()

    throughput, flood, windows, sends, verifies, grants, released, empty = asyncio.run(scenario())
    assert throughput == [0, 0, 5]
    assert flood[:6] == [0] * 6 and flood[6] > 0
    assert windows[0] == 0 and windows[1] > 0
    assert sends[:3] == [0, 0, 0] and sends[3] > 0
    assert verifies[0] == 0 and 1_500 < verifies[1] <= 3_000
    assert grants[0] == 0 and grants[1] > 0
    assert released is True
    assert empty == []
