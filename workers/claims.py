"""Send claims: no messageId is ever sent twice, even by two workers, even after a crash.

A run claims its destinations when it starts (`claim.lua`, mode START): the
message's field in its claims bucket (core.ledger) gets
"{run token}:{Redis time}[:{stage}]+{settle ms}|{via}".
The claim ends when the run records what became of the destination (`record.lua`,
through `Event.release`): the gateway's answer, or a deferral.  Right before each
request the run re-stamps the claims it sends under (mode CLAIM), unless it took them a moment ago
(`RESTAMP_AFTER_MS`), so a request never outlives its claim's settle time.

A claim that is still there when another run looks means the outcome is
*unknown*: its run was killed mid-request, the request timed out after it was
written, or the answer could not be read.  Such a destination is

* left alone while the claim is younger than the settle time (the request's
  timeout plus `SETTLE_MARGIN_MS`: it may still be on its way, or still being
  processed by the gateway): it comes back when that has surely passed.  The
  settle time is the claiming run's own, stored with the claim, so a worker with
  another SMS_HTTP_TIMEOUT (a rolling change) never takes a claim over early; a
  claim written before claims carried one is settled on the reader's;
* then taken over (atomically, keeping the old stamp) by a run, which asks the
  gateway what it took (the provider's `lookup`: ANTS's message logs, for one) and
  sends only what the gateway does not know.  Each claim says where its request may
  have gone (`Via`: the provider, and the bulkId and validity end the request carried,
  which a gateway's lookup may need to find it), so it is asked there and about that
  request, whichever provider and batch copy take it over.  Two runs may both take over and ask;
  only the last one's CLAIM succeeds, so only one sends.

A gateway whose lookup cannot prove absence (SmsManager: `Profile.lookup_proves_absence`
False) cannot tell us that a request never arrived, so its claims are *staged*: taken as
`Stage.CLAIMED` when the run starts and re-stamped `Stage.SENDING` right before each
request leaves.  A settled claim still CLAIMED (its run died before the request) is simply
taken and sent; a SENDING one is asked about, and what the lookup cannot show is held
`unknown` (workers.sender), never sent again by itself.

So redelivered batches, double imports, double resumes and replays can all
carry the same destination at once; at most one of them sends it.

`claims(client, mode, ...)` is the one wrapper of `claim.lua`.  It claims a batch
`CLAIM_CHUNK` destinations to a call, so no call holds Redis long enough to keep a
transactional message waiting behind a 1,000-destination campaign batch
(docs/performance.md, "Transactional latency").  Chunks keep "never twice, never lost":

* a destination's decision reads and writes only its own state and its own claim, so
  what a single call decided for it, its chunk decides the same way; the calls run one
  after another, in the batch's order, so a destination listed twice still meets its own
  claim (re-stamped: ours);
* each chunk stamps its claims with Redis's time when that chunk runs, never earlier
  than the caller's clock read before the first chunk (`Claiming._stamped`): the checks
  that a claim is fresh enough to send under (`RESTAMP_AFTER_MS`, `CLAIM_ANSWER_MAX_MS`)
  are measured from that read, so they cover every chunk and err on the safe side;
* no request leaves until every chunk has answered (a START claims before anything is
  sent; a CLAIM re-stamps the destinations of one request before it is written), so a
  run that dies or fails between chunks has sent nothing: the claims its chunks took
  stay, and its batch comes back (unacked or its follow-up) to meet them as another run's
  claims, waited out and then asked about at the gateway (staged: one still `c` taken as
  never sent, an `s` one asked about) exactly as after a death right after a single
  call; its later chunks were never claimed or re-stamped, as after a death before the
  call.  Each destination is left as a crash of the single call could have left it, so
  none is sent twice, and a claim never strands a message: the run that meets it
  settles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from core import ledger, lua, optout
from core.batch import Destination
from core.outcomes import NONFINAL_TTL, RANK, State

SETTLE_MARGIN_MS = 5_000  # a gateway may still process a request this long after the client gave up
RESTAMP_AFTER_MS = 1_000  # claims older than this are re-stamped before a request (< the margin)
# destinations per claim.lua call: ~1-2 ms of Redis each (a batch of 1,000 in one call held
# Redis ~10 ms, and every transactional message's round trips queued behind it)
CLAIM_CHUNK = 200


class Stage(StrEnum):
    """How far a staged claim's run got (claim.lua ARGV[9]); NONE: claims not staged."""

    NONE = ""
    CLAIMED = "c"  # its request has not started: a settled one is simply taken over
    SENDING = "s"  # its request may have left: a settled one is asked about


class Mode(StrEnum):
    START = "start"  # a run begins: take free ones, take over settled ones (to ask about)
    CLAIM = "claim"  # right before a request: take free ones, re-stamp ours, never others'


@dataclass(frozen=True)
class Via:
    """Where a claimed destination's request may have gone: its provider, and the
    bulkId and validity end that request carried (stored with the claim)."""

    provider: str
    bulk_id: str
    expires_at: int

    def __str__(self) -> str:
        return f"{self.provider}|{self.expires_at}|{self.bulk_id}"

    @classmethod
    def parse(cls, raw: str) -> Via:
        provider, expires_at, bulk_id = raw.split("|", 2)
        return cls(provider, bulk_id, int(expires_at))


@dataclass
class Claims:
    """What claim.lua answered for a batch (its chunks together), destination by destination."""

    ours: list[Destination] = field(default_factory=list)  # free or ours: stamped now
    sent: list[Destination] = field(default_factory=list)  # state accepted or later
    suppressed: list[Destination] = field(default_factory=list)  # on the opt-out list
    why: dict[str, str] = field(default_factory=dict)  # an opted-out number -> its entry's reason
    busy: list[tuple[Destination, int]] = field(default_factory=list)  # another run's, wait ms
    unknown: list[tuple[Destination, Via]] = field(default_factory=list)  # settled, now ours:
    # ask first, where its request may have gone


def settle_ms(http_timeout_s: float) -> int:
    """How long after a claim its request can surely no longer reach the gateway."""
    return int(http_timeout_s * 1000) + SETTLE_MARGIN_MS


def _declare(
    campaign: str, dests: Sequence[Destination], suppressed: Sequence[bool]
) -> tuple[list[str], list[Any]]:
    """claim.lua's KEYS (each bucket once) and its items."""
    declared, items = lua.Declared(), []
    for d, s in zip(dests, suppressed, strict=True):
        p = ledger.place(d.message_id, campaign)
        items.append((int(s), declared.at(p.key), declared.at(p.claim_key), p.field))
    return declared.keys, items


async def claims(
    client: Any,
    mode: Mode,
    token: str,
    settle: int,
    campaign: str,
    via: Via,
    dests: Sequence[Destination],
    *,
    legacy: str = "",
    stage: Stage = Stage.NONE,
    optouts: Sequence[optout.Entry | None] | None = None,
) -> Claims:
    """Claim `dests` for the run `token` sending as `via` (module docstring).  `legacy`:
    the provider of claims that name none (taken before claims recorded one: the
    SMS_PROVIDER of that time); else `via`'s.  `stage`: what the stamp says of the
    request (staged claims: a provider whose lookup cannot prove absence).  `optouts`:
    each destination's opt-out entry (`core.optout.acheck`) when the caller has read them."""
    out = Claims()
    if not dests:
        return out
    fallback = Via(legacy or via.provider, via.bulk_id, via.expires_at)
    entries = optouts  # a global key: not in claim.lua
    if entries is None:
        entries = await optout.acheck(client, [d.to for d in dests])
    out.why = {e.number: f"{e.source}: {e.reason}" for e in entries if e is not None}
    suppressed = [e is not None for e in entries]
    script = lua.script(client, "claim", "workers")
    for at in range(0, len(dests), CLAIM_CHUNK):  # in order: the module docstring says why
        chunk = dests[at : at + CLAIM_CHUNK]
        keys_, items = _declare(campaign, chunk, suppressed[at : at + CLAIM_CHUNK])
        args = [
            RANK[State.ACCEPTED],
            mode.value,
            token,
            settle,
            NONFINAL_TTL,
            str(via),
            str(fallback),
            orjson.dumps(items),
            stage.value,
        ]
        _read(out, chunk, await script(keys=keys_, args=args))
    return out


def _read(out: Claims, dests: Sequence[Destination], reply: Any) -> None:
    """One claim.lua answer for `dests`, added to `out` destination by destination."""
    marks = reply[0].decode()
    waits, askers = iter(orjson.loads(reply[1])), iter(orjson.loads(reply[2]))
    lists = {"0": out.ours, "1": out.sent, "2": out.suppressed}
    for d, mark in zip(dests, marks, strict=True):
        if mark == "3":
            out.busy.append((d, int(next(waits))))
        elif mark == "4":
            out.unknown.append((d, Via.parse(next(askers))))
        else:
            lists[mark].append(d)
