"""Send claims: no messageId is ever sent twice, even by two workers, even after a crash.

Before a request leaves, the run claims each destination (`claim.lua`, one call
per request): the message hash gets this run's token and the Redis time.  The
claim ends when the run records the gateway's answer (`record.lua`, through
`Event.release`).  A claim that is still there means the outcome is *unknown*:
the run was killed mid-request, the request timed out after it was written, or
the answer could not be read.  Such a destination is

* left alone while the claim is younger than the settle time (the request's
  timeout plus `SETTLE_MARGIN_MS`: it may still be on its way, or still being
  processed by the gateway): the batch comes back when it has settled;
* then taken over by exactly one run (atomically), which asks the gateway what
  it took (the provider's `lookup`, e.g. ANTS `GET /sms/1/logs`) and sends only
  what the gateway does not know.

So redelivered batches, double imports, double resumes and replays can all
carry the same destination at once; at most one of them sends it.

`claims(client, mode, ...)` is the one wrapper of `claim.lua`; its modes:
`INSPECT` (read only), `CLAIM` (take before sending, or refresh our own before
each attempt) and `TAKEOVER` (take a settled claim to ask the gateway about).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from dispatcher import keys, lua
from dispatcher.batch import Destination
from dispatcher.outcomes import NONFINAL_TTL, RANK, State

SETTLE_MARGIN_MS = 5_000  # a gateway may still process a request this long after the client gave up


class Mode(StrEnum):
    INSPECT = "inspect"
    CLAIM = "claim"
    TAKEOVER = "takeover"


@dataclass
class Claims:
    """One claim.lua answer, destination by destination."""

    ours: list[Destination] = field(default_factory=list)  # free / claimed now / taken over
    sent: list[Destination] = field(default_factory=list)  # state accepted or later
    suppressed: list[Destination] = field(default_factory=list)
    busy: list[tuple[Destination, int]] = field(default_factory=list)  # another run's, wait ms
    unknown: list[Destination] = field(default_factory=list)  # settled claim: ask the gateway
    free: list[Destination] = field(default_factory=list)  # takeover: the claim was ended


def settle_ms(http_timeout_s: float) -> int:
    """How long after a claim its request can surely no longer reach the gateway."""
    return int(http_timeout_s * 1000) + SETTLE_MARGIN_MS


async def claims(
    client: Any, mode: Mode, token: str, settle: int, campaign: str,
    dests: Sequence[Destination],
) -> Claims:  # fmt: skip
    """Inspect, claim or take over `dests` for the run `token` (see the module docstring)."""
    out = Claims()
    if not dests:
        return out
    items = orjson.dumps([(d.message_id, d.to) for d in dests])
    args = [keys.message(""), RANK[State.ACCEPTED], mode.value, token, settle, NONFINAL_TTL,
            campaign, items]  # fmt: skip
    reply = await lua.script(client, "claim", "workers")(keys=[keys.SUPPRESSED], args=args)
    marks, waits = reply[0].decode(), iter(int(w) for w in reply[1:])
    lists = {"0": out.ours, "1": out.sent, "2": out.suppressed, "4": out.unknown, "5": out.free}
    for d, mark in zip(dests, marks, strict=True):
        if mark == "3":
            out.busy.append((d, next(waits)))
        else:
            lists[mark].append(d)
    return out
