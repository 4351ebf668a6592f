"""Send claims: no messageId is ever sent twice, even by two workers, even after a crash.

A run claims its destinations when it starts (`claim.lua`, mode START): the
message hash gets "{run token}:{Redis time}".  The claim ends when the run records
what became of the destination (`record.lua`, through `Event.release`): the
gateway's answer, or a deferral.  Right before each request the run re-stamps the
claims it sends under (mode CLAIM), unless it took them a moment ago
(`RESTAMP_AFTER_MS`), so a request never outlives its claim's settle time.

A claim that is still there when another run looks means the outcome is
*unknown*: its run was killed mid-request, the request timed out after it was
written, or the answer could not be read.  Such a destination is

* left alone while the claim is younger than the settle time (the request's
  timeout plus `SETTLE_MARGIN_MS`: it may still be on its way, or still being
  processed by the gateway): it comes back when that has surely passed;
* then taken over (atomically, keeping the old stamp) by a run, which asks the
  gateway what it took (the provider's `lookup`, e.g. ANTS `GET /sms/1/logs`) and
  sends only what the gateway does not know.  Two runs may both take over and ask;
  only the last one's CLAIM succeeds, so only one sends.

So redelivered batches, double imports, double resumes and replays can all
carry the same destination at once; at most one of them sends it.

`claims(client, mode, ...)` is the one wrapper of `claim.lua`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from core import keys, lua
from core.batch import Destination
from core.outcomes import NONFINAL_TTL, RANK, State

SETTLE_MARGIN_MS = 5_000  # a gateway may still process a request this long after the client gave up
RESTAMP_AFTER_MS = 1_000  # claims older than this are re-stamped before a request (< the margin)


class Mode(StrEnum):
    START = "start"  # a run begins: take free ones, take over settled ones (to ask about)
    CLAIM = "claim"  # right before a request: take free ones, re-stamp ours, never others'


@dataclass
class Claims:
    """One claim.lua answer, destination by destination."""

    ours: list[Destination] = field(default_factory=list)  # free or ours: stamped now
    sent: list[Destination] = field(default_factory=list)  # state accepted or later
    suppressed: list[Destination] = field(default_factory=list)
    busy: list[tuple[Destination, int]] = field(default_factory=list)  # another run's, wait ms
    unknown: list[tuple[Destination, str]] = field(default_factory=list)  # settled, now ours:
    # ask first, and ask the provider it was claimed for


def settle_ms(http_timeout_s: float) -> int:
    """How long after a claim its request can surely no longer reach the gateway."""
    return int(http_timeout_s * 1000) + SETTLE_MARGIN_MS


async def claims(
    client: Any, mode: Mode, token: str, settle: int, campaign: str, provider: str,
    dests: Sequence[Destination],
) -> Claims:  # fmt: skip
    """Claim `dests` for the run `token` sending through `provider` (module docstring)."""
    out = Claims()
    if not dests:
        return out
    items = orjson.dumps([(d.message_id, d.to) for d in dests])
    args = [keys.message(""), RANK[State.ACCEPTED], mode.value, token, settle, NONFINAL_TTL,
            campaign, provider, items]  # fmt: skip
    reply = await lua.script(client, "claim", "workers")(keys=[keys.SUPPRESSED], args=args)
    marks = reply[0].decode()
    waits, askers = iter(orjson.loads(reply[1])), iter(orjson.loads(reply[2]))
    lists = {"0": out.ours, "1": out.sent, "2": out.suppressed}
    for d, mark in zip(dests, marks, strict=True):
        if mark == "3":
            out.busy.append((d, int(next(waits))))
        elif mark == "4":
            out.unknown.append((d, next(askers)))
        else:
            lists[mark].append(d)
    return out
