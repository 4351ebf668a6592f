"""Resending temporarily undelivered messages (SMS_RESEND_TEMPORARY, off by default).

An undeliverable report whose error says `permanent=false` (an absent subscriber,
a full handset...) can be worth a second try later.  The resend is a *new*
message, `{original}-r{n}` (see `ids.resend_id`), so both stay in the outcome
stream and the chain is traceable; the original stays undeliverable.  At most
SMS_RESEND_MAX resends per original, each SMS_RESEND_DELAY seconds after the
report that triggered it.

Only when the report was the one that made the message final (first final
wins: a temporary report after a delivered one resends nothing).  Idempotent:
the check and the mark are one step (`resend.lua`): the campaign's `resent` hash
(chain head -> resends marked, also the export's index) is checked and written,
and the resend counted, in one script on the campaign's keys, so copies of one
report (in one body, or two bodies at once) enqueue and count one resend.  A
marked resend is *pending* until its enqueue returns; one whose enqueue died (a
crash, the broker away) is enqueued again by the next resend of its campaign once
it has been pending for PENDING_STALE_MS (enqueued twice at worst, which the send
claims absorb: the messageId is the same).

A resend carries the campaign's message options (its meta's `options`: flash, a national
language...), as its first send did.

Limitation: the text comes from the campaign's meta hash (`text`, `sender`),
which is the shared text of the campaign.  Personalised campaigns (a text with
{placeholders}) store no per-message text, so their messages are not resent;
each skip is logged.  API messages (`send_sms`) are not resent either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from config.settings import Settings
from core import clock, ids, keys, ledger, lua
from core.batch import OPTIONS_KEY, Batch, Destination
from core.errors import InputError
from core.options import SendOptions
from core.outcomes import State
from dispatcher.template import Template
from providers.reports import DeliveryReport

log = logging.getLogger(__name__)

Enqueue = Callable[[dict[str, Any], int], None]  # (batch dict, delay ms), e.g. enqueue_batch
MARKER_TTL = 30 * 86400
PENDING_STALE_MS = 60_000  # a resend marked this long ago and still pending: its enqueue died


def _text(v: bytes | str | None) -> str:
    return v.decode() if isinstance(v, bytes) else (v or "")


@dataclass(frozen=True)
class Candidate:
    original: str
    new_id: str
    n: int
    error: str


class Resender:
    def __init__(self, client: Any, settings: Settings, enqueue: Enqueue) -> None:
        self.client = client
        self.s = settings
        self.enqueue = enqueue

    def candidates(self, reports: Sequence[DeliveryReport]) -> list[Candidate]:
        """Temporary undeliverable reports whose chain has resends left."""
        out = []
        for rp in reports:
            if rp.state != State.UNDELIVERABLE.value or rp.permanent is not False:
                continue
            new_id, n = ids.resend_id(rp.message_id)
            if n <= self.s.resend_max:
                out.append(Candidate(rp.message_id, new_id, n, rp.error_code))
        return out

    async def resend(self, reports: Sequence[DeliveryReport]) -> int:
        """Enqueue the resends these (already applied) reports call for; returns how many."""
        if not self.s.resend_temporary:
            return 0
        by_campaign: dict[str, list[Candidate]] = defaultdict(list)
        for cand in self.candidates(reports):
            by_campaign[ids.campaign_of(cand.original)].append(cand)
        sent = 0
        for campaign, cands in by_campaign.items():
            sent += await self._campaign(campaign, cands)
        return sent

    async def _campaign(self, campaign: str, cands: list[Candidate]) -> int:
        fields = ("text", "sender", "options")
        meta = await self.client.hmget(keys.campaign_meta(campaign), *fields)
        text, sender = _text(meta[0]), _text(meta[1]) or self.s.sender
        options = SendOptions.from_stored(meta[2])
        shared = _shared_text(text)
        if shared is None:
            log.warning(
                "not resending %d messages of %s: no shared campaign text (personalised "
                "or API messages)",
                len(cands),
                campaign,
            )
            return 0
        stale = await self._stale(campaign)
        marked = await mark(self.client, campaign, cands)
        for batch in self._batches(campaign, sender, shared, [*stale, *marked], options):
            await asyncio.to_thread(self.enqueue, batch.to_dict(), self.s.resend_delay * 1000)
            await _pending(self.client, campaign, "done", [_member(d) for d in batch.destinations])
        if stale:
            log.info("enqueued %d resends of %s again (their enqueue died)", len(stale), campaign)
        if marked:
            log.info("resent %d temporarily undelivered messages of %s", len(marked), campaign)
        return len(marked)

    async def _stale(self, campaign: str) -> list[Destination]:
        """Pending resends of the campaign whose enqueue died (marked long enough ago)."""
        raws = await _pending(self.client, campaign, "stale", [PENDING_STALE_MS])
        return [Destination(*_text(raw).split("|", 1)) for raw in raws]

    def _batches(
        self,
        campaign: str,
        sender: str,
        text: str,
        dests: list[Destination],
        options: SendOptions,
    ) -> list[Batch]:
        """One batch per resend number (`-r{n}`), with the campaign's message options."""
        meta = {OPTIONS_KEY: options.to_meta()} if options else {}
        delay_ms = self.s.resend_delay * 1000
        expires = clock.now_ms() + delay_ms + self.s.validity_minutes * 60_000
        by_n: dict[int, list[Destination]] = defaultdict(list)
        for d in dests:
            by_n[ids.original_of(d.message_id)[1]].append(d)
        return [
            Batch(
                campaign,
                0,
                f"{campaign}-r{n}-{int(time.time())}",
                sender,
                text,
                tuple(by_n[n]),
                expires,
                meta=dict(meta),
            )
            for n in sorted(by_n)
        ]


def pending_key(campaign: str) -> str:
    """The campaign's pending resends: marked, not known to be enqueued (`resend.lua`)."""
    return f"{keys.campaign_resent(campaign)}:pending"


def _member(d: Destination) -> str:
    return f"{d.message_id}|{d.to}"


async def mark(client: Any, campaign: str, cands: Sequence[Candidate]) -> list[Destination]:
    """Check and mark in one step (`resend.lua` mark): the resends due, now counted and
    pending, as destinations (each once, however many copies of its report came)."""
    declared, items = lua.Declared(), []
    for c in cands:
        p = ledger.place(c.original, campaign)
        head = ids.original_of(c.original)[0]  # the chain's head: what the marks count under
        items.append([declared.at(p.key), p.field, head, c.n, c.error, c.new_id])
    reply = await _script(
        client, campaign, declared.keys, ["mark", orjson.dumps(items), MARKER_TTL]
    )
    marked = orjson.loads(reply) or []
    return [Destination(cands[i - 1].new_id, to) for i, to in marked]


async def _pending(client: Any, campaign: str, mode: str, args: Sequence[Any]) -> Any:
    """`resend.lua` done (forget these pending members) or stale (take those marked more
    than args[0] ms ago)."""
    if mode == "done" and not args:
        return 0
    return await _script(client, campaign, [], [mode, *args])


def _script(client: Any, campaign: str, buckets: list[str], args: list[Any]) -> Any:
    """The one wrapper of `resend.lua`: the campaign's keys, then the ledger buckets."""
    keys_ = [
        keys.campaign_resent(campaign),
        pending_key(campaign),
        keys.campaign_counts(campaign),
        keys.campaign_meta(campaign),
        *buckets,
    ]
    return lua.script(client, "resend", "dispatcher")(keys=keys_, args=args)


def _shared_text(text: str) -> str | None:
    """The campaign text when it has no {placeholder}; None when personalised or unset."""
    if not text:
        return None
    try:
        template = Template(text, ())
    except InputError:
        return None
    return None if template.personalised else template.shared_text
