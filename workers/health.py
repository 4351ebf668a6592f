"""Provider health, for failover: which providers of a route may take new batches now.

Every request a worker sends is recorded against its provider (`health.lua`, in 10 s
buckets shared by all workers): failed (an HTTP 5xx, a timeout, no connection, an
unreadable answer) or slow (longer than SMS_FAILOVER_SLOW_MS).  A provider turns
*down* when its last SMS_FAILOVER_IN_A_ROW requests all failed (a gateway that went
away is left within seconds, whatever its history), or when, over the last
SMS_FAILOVER_WINDOW, it had at least
SMS_FAILOVER_MIN_REQUESTS requests and SMS_FAILOVER_ERROR_RATE of them failed, or
SMS_FAILOVER_SLOW_SHARE of them were slow (the rule GOV.UK Notify uses, on delivery
time: 15% over 5 minutes).  New batches then go to the next provider of their route.
Every SMS_FAILOVER_PROBE_AFTER one batch (across all workers) is still sent to a down
provider as a probe; a probe that goes well restores it (a request that was on its
way when the provider turned down proves nothing, and does not).  Throttling, refusals of
single numbers and account errors (which pause the campaign) are not health failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from config.settings import Settings
from core import keys, lua
from core.errors import GatewayError, GatewayThrottled

BUCKET_MS = 10_000


class Health(IntEnum):
    HEALTHY = 0
    DOWN = 1


def failed(exc: BaseException | None) -> bool:
    """Whether a request's outcome counts against its provider's health."""
    if exc is None or not isinstance(exc, GatewayError):
        return False
    return not (exc.fatal or isinstance(exc, GatewayThrottled)) and (
        exc.retryable or exc.maybe_sent
    )


async def _call(client: Any, settings: Settings, mode: str, provider: str, *args: Any) -> Any:
    """The one wrapper of health.lua: one provider a call (its keys: one cluster slot), the
    provider last in the arguments."""
    base = [keys.HEALTH, mode, settings.failover_window_ms, BUCKET_MS]
    routed = [keys.health(provider, "down")]
    return await lua.script(client, "health", "workers")(keys=routed, args=[*base, *args, provider])


async def record(
    client: Any,
    settings: Settings,
    provider: str,
    exc: BaseException | None,
    seconds: float,
    *,
    probe: bool = False,
) -> bool:
    """Count one request; True when it was a probe (sent though the provider was down:
    workers.routes.Leg) that went well, and so restored the provider."""
    slow = seconds * 1000 > settings.failover_slow_ms
    return bool(
        await _call(client, settings, "record", provider, int(failed(exc)), int(slow), int(probe))
    )


async def check(client: Any, settings: Settings, providers: Sequence[str]) -> list[Health]:
    s = settings
    args = (
        s.failover_min_requests,
        s.failover_error_rate,
        s.failover_slow_share,
        s.failover_probe_ms,
        s.failover_in_a_row,
    )
    marks = [(await _call(client, s, "check", p, *args))[0] for p in providers]
    return [Health(int(m)) for m in marks]


async def probes(client: Any, settings: Settings, down: Sequence[str]) -> set[str]:
    """Of these down providers, those whose one probe batch (per SMS_FAILOVER_PROBE_AFTER,
    across all workers) this caller may send: ask only for those it would send to."""
    if not down:
        return set()
    probe_ms = settings.failover_probe_ms
    granted = [(await _call(client, settings, "probe", p, probe_ms))[0] for p in down]
    return {p for p, g in zip(down, granted, strict=True) if int(g)}
