"""Failover: provider health (health.lua) and which provider sends each destination."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import fakeredis
import pytest

from config.settings import Route, Settings, load
from core import keys
from core.batch import Batch, Destination
from core.errors import (
    GatewayAuthError,
    GatewayConnectError,
    GatewayServerError,
    GatewayThrottled,
    GatewayTimeout,
)
from workers import health, routes
from workers.health import Health

S = Settings(
    failover_min_requests=4,
    failover_error_rate=0.5,
    failover_slow_share=0.5,
    failover_slow_ms=1_000,
    failover_probe_ms=60_000,
)


def go(body: Any) -> Any:
    return asyncio.run(body(fakeredis.FakeAsyncRedis()))


def test_failures_that_count_against_health() -> None:
    assert health.failed(GatewayServerError("500", status=500))
    assert health.failed(GatewayTimeout("t")) and health.failed(GatewayConnectError("c"))
    assert not health.failed(GatewayThrottled("429")) and not health.failed(None)
    assert not health.failed(GatewayAuthError("401"))  # pauses the campaign instead


def test_a_provider_goes_down_on_errors_gets_one_probe_and_a_good_probe_restores_it() -> None:
    async def body(r: Any) -> list[Any]:
        seen: list[Any] = []
        for _ in range(3):  # below the minimum: not judged yet
            await health.record(r, S, "ants", GatewayServerError("500"), 0.1)
        seen.append(await health.check(r, S, ["ants", "smsc"]))
        await health.record(r, S, "ants", GatewayServerError("500"), 0.1)
        seen.append(await health.check(r, S, ["ants", "smsc"]))  # down
        seen.append(await health.probes(r, S, ["ants"]))  # its first probe waits
        await r.delete(keys.health("ants", "probe"))  # the probe interval passed
        seen.append(await health.probes(r, S, ["ants"]))  # one caller gets the probe...
        seen.append(await health.probes(r, S, ["ants"]))  # ...the next does not
        seen.append(await health.record(r, S, "ants", None, 0.1))  # on its way before: no probe
        seen.append(await health.check(r, S, ["ants"]))
        seen.append(await health.record(r, S, "ants", None, 0.1, probe=True))  # it went well
        seen.append(await health.check(r, S, ["ants"]))
        return seen

    assert go(body) == [
        [Health.HEALTHY, Health.HEALTHY],
        [Health.DOWN, Health.HEALTHY],
        set(),
        {"ants"},
        set(),
        False,
        [Health.DOWN],
        True,
        [Health.HEALTHY],
    ]


def test_a_probe_turn_goes_only_to_a_batch_that_would_send_to_the_down_provider() -> None:
    """smsc is down; 66... routes to ants first (healthy): that batch must not use up
    smsc's probe turn, so the next 420... batch (smsc first) gets it."""
    two = load(
        {
            "SMS_ROUTES": "420=smsc,ants; *=ants,smsc",
            "SMS_FAILOVER_MIN_REQUESTS": "4",
            "SMS_FAILOVER_PROBE_AFTER": "1m",
        }
    )

    async def body(r: Any) -> list[list[tuple[str, bool]]]:
        for _ in range(4):
            await health.record(r, two, "smsc", GatewayTimeout("t"), 0.1)
        await health.check(r, two, ["smsc"])  # down
        await r.delete(keys.health("smsc", "probe"))  # its probe is due
        out = []
        for b in (batch("66812345678"), batch("420601234567"), batch("420601234567")):
            out.append([(leg.provider, leg.probe) for leg in await routes.assign(r, two, b)])
        return out

    assert go(body) == [[("ants", False)], [("smsc", True)], [("ants", False)]]


def test_a_follow_up_that_goes_to_ask_goes_there_even_when_down() -> None:
    async def body(r: Any) -> list[tuple[str, bool]]:
        for _ in range(10):
            await health.record(r, ROUTED, "ants", GatewayTimeout("t"), 0.1)
        b = batch("66812345678")
        asking = b.only(list(b.destinations), meta={"ask": "ants"})
        return [(leg.provider, leg.probe) for leg in await routes.assign(r, ROUTED, asking)]

    assert go(body) == [("ants", False)]


def test_slow_requests_take_a_provider_down_too() -> None:
    async def body(r: Any) -> list[Health]:
        for _ in range(2):
            await health.record(r, S, "smsc", None, 0.1)
        for _ in range(2):
            await health.record(r, S, "smsc", None, 5.0)  # slower than 1 s
        return await health.check(r, S, ["smsc"])

    assert go(body) == [Health.DOWN]


def test_failures_in_a_row_take_a_provider_down_whatever_its_history() -> None:
    many = Settings(failover_min_requests=4, failover_error_rate=0.5, failover_in_a_row=3)

    async def body(r: Any) -> list[list[Health]]:
        seen = []
        for _ in range(100):  # a long good history: the error rate stays low
            await health.record(r, many, "ants", None, 0.1)
        for _ in range(2):
            await health.record(r, many, "ants", GatewayServerError("500"), 0.1)
        await health.record(r, many, "ants", None, 0.1)  # a success breaks the run
        await health.record(r, many, "ants", GatewayServerError("500"), 0.1)
        seen.append(await health.check(r, many, ["ants"]))
        for _ in range(2):  # three in a row now
            await health.record(r, many, "ants", GatewayTimeout("t"), 0.1)
        seen.append(await health.check(r, many, ["ants"]))
        return seen

    assert go(body) == [[Health.HEALTHY], [Health.DOWN]]


def batch(*numbers: str, provider: str = "", sender: str = "Shop") -> Batch:
    dests = tuple(Destination(f"c-{i}", n) for i, n in enumerate(numbers))
    return Batch(
        "c", 0, "c-b0", sender, "Hi", dests, int(time.time() * 1000) + 60_000, provider=provider
    )


ROUTED = load(
    {
        "SMS_ROUTES": "66=ants,smsc; 420=smsc; sender:Alerts=smsmanager",
        "SMS_PROVIDER": "ants",
        "SMS_FAILOVER_MIN_REQUESTS": "4",
    }
)


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (
            batch("66812345678", "420601234567", "15551234567"),
            {"ants": ["c-0", "c-2"], "smsc": ["c-1"]},
        ),  # by country; the rest: SMS_PROVIDER
        (batch("66812345678", sender="Alerts"), {"smsmanager": ["c-0"]}),  # by sender first
        (
            batch("66812345678", "420601234567", provider="smsc"),
            {"smsc": ["c-0", "c-1"]},
        ),  # asked for: that one only
    ],
)
def test_routes(b: Batch, expected: dict[str, list[str]]) -> None:
    legs = go(lambda r: routes.assign(r, ROUTED, b))
    assert {leg.provider: [d.message_id for d in leg.dests] for leg in legs} == expected
    assert not any(leg.probe for leg in legs)


def test_a_down_provider_is_passed_over_for_the_next_in_its_route() -> None:
    async def body(r: Any) -> list[tuple[str, list[str], bool]]:
        for _ in range(4):
            await health.record(r, ROUTED, "ants", GatewayTimeout("t"), 0.1)
        await health.check(r, ROUTED, ["ants"])  # ants is down (its probe waits)
        legs = await routes.assign(r, ROUTED, batch("66812345678", "15551234567"))
        return [(leg.provider, [d.message_id for d in leg.dests], leg.probe) for leg in legs]

    # 66...: ants is down, smsc takes it; the rest has no other provider: ants all the same,
    # and as that request tells how ants is doing, a probe
    assert go(body) == [("smsc", ["c-0"], False), ("ants", ["c-1"], True)]


def test_routes_setting_is_ordered_most_specific_first() -> None:
    assert ROUTED.routes[0] == Route(sender="Alerts", providers=("smsmanager",))
    assert [r.prefix for r in load({"SMS_ROUTES": "*=a; 6=b; 66=c"}).routes] == ["66", "6", ""]
