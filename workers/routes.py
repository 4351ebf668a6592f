"""Which provider sends each destination of a batch.

The candidates of a destination, in order: the provider the batch asked for (`import
--provider`, `send_sms(provider=...)`: that one only); else the first route of
SMS_ROUTES that matches it (its sender id, else the longest matching country prefix,
else `*`); else SMS_PROVIDER.  Among its candidates the first one that is healthy (or
whose probe this batch may be, see `workers.health`) sends it; when all are down, the
first does.  So a batch can leave in several requests, one per provider, and with
failover its destinations keep their messageIds.  A leg sent to a provider marked down
(its probe, or nothing healthy left) is a probe: if it goes well, the provider is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import Settings
from core.batch import Batch, Destination
from workers import health
from workers.health import Health


@dataclass(frozen=True)
class Leg:
    """The destinations of a batch that one provider sends."""

    provider: str
    dests: list[Destination]
    probe: bool = False  # sent though the provider is marked down


def candidates(settings: Settings, batch: Batch, dest: Destination) -> tuple[str, ...]:
    if batch.provider:
        return (batch.provider,)
    for route in settings.routes:
        if route.matches(dest.to, batch.sender):
            return route.providers
    return (settings.provider,)


async def assign(client: Any, settings: Settings, batch: Batch) -> list[Leg]:
    """The legs of a batch, one per provider (in first-seen order).  A follow-up that goes
    to ask a provider about unknown outcomes (`meta["ask"]`) goes there, healthy or not."""
    if ask := batch.meta.get("ask"):
        return [Leg(ask, list(batch.destinations))]
    lists = [candidates(settings, batch, d) for d in batch.destinations]
    names = list(dict.fromkeys(p for ps in lists for p in ps))
    if len(names) == 1:
        return [Leg(names[0], list(batch.destinations))]
    marks = dict(zip(names, await health.check(client, settings, names), strict=True))
    healthy = {p for p, m in marks.items() if m is Health.HEALTHY}
    # a down provider is probed only by a batch that would send to it: one that comes
    # before every healthy provider of some destination's route
    wanted = [
        p
        for p in names
        if p not in healthy and any(_before_healthy(p, ps, healthy) for ps in lists)
    ]
    usable = healthy | await health.probes(client, settings, wanted)
    groups: dict[str, list[Destination]] = {}
    for d, ps in zip(batch.destinations, lists, strict=True):
        chosen = next((p for p in ps if p in usable), ps[0])
        groups.setdefault(chosen, []).append(d)
    return [Leg(p, ds, p not in healthy) for p, ds in groups.items()]


def _before_healthy(provider: str, route: tuple[str, ...], healthy: set[str]) -> bool:
    for p in route:
        if p == provider:
            return True
        if p in healthy:
            return False
    return False
