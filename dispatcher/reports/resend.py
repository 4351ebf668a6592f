"""Resending temporarily undelivered messages (SMS_RESEND_TEMPORARY, off by default).

An undeliverable report whose error says `permanent=false` (an absent subscriber,
a full handset...) can be worth a second try later.  The resend is a *new*
message, `{original}-r{n}` (see `ids.resend_id`), so both stay in the outcome
stream and the chain is traceable; the original stays undeliverable.  At most
SMS_RESEND_MAX resends per original, each SMS_RESEND_DELAY seconds after the
report that triggered it.

Only when the report was the one that made the message final (first final
wins: a temporary report after a delivered one resends nothing).  Idempotent:
the campaign's `resent` hash (original -> resends enqueued, also the export's
index) is written after the enqueue, in one transaction on the campaign's keys,
so a duplicate report enqueues nothing and a crash in between at worst enqueues
twice, which the send claims absorb (the resend's messageId is the same).

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

from config.settings import Settings
from core import clock, ids, keys, ledger
from core.batch import Batch, Destination
from core.errors import InputError
from core.outcomes import State
from dispatcher.template import Template
from providers.reports import DeliveryReport

log = logging.getLogger(__name__)

Enqueue = Callable[[dict[str, Any], int], None]  # (batch dict, delay ms), e.g. enqueue_batch
MARKER_TTL = 30 * 86400


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
        self.r, self.s, self.enqueue = client, settings, enqueue

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
        todo = await self._due(self.candidates(reports))
        by_campaign: dict[str, list[tuple[Candidate, str]]] = defaultdict(list)
        for cand, to in todo:
            by_campaign[ids.campaign_of(cand.original)].append((cand, to))
        sent = 0
        for campaign, items in by_campaign.items():
            sent += await self._campaign(campaign, items)
        return sent

    async def _due(self, cands: list[Candidate]) -> list[tuple[Candidate, str]]:
        """Those whose message ended undeliverable with this error and are not resent yet."""
        if not cands:
            return []
        pipe = self.r.pipeline(transaction=False)
        for c in cands:
            p = ledger.place(c.original)
            pipe.hget(p.key, p.field)
            first = ids.original_of(c.original)[0]  # the chain's head: what `_mark` counts under
            pipe.hget(keys.campaign_resent(ids.campaign_of(first)), first)
        answers = await pipe.execute()
        due = []
        for c, raw, resent in zip(cands, answers[::2], answers[1::2], strict=True):
            marked = int(resent or 0) >= c.n
            m = ledger.decode(raw) or {}
            final_here = m.get("state") == State.UNDELIVERABLE.value and m.get("error") == c.error
            if final_here and not marked and m.get("to"):
                due.append((c, m["to"]))
        return due

    async def _campaign(self, campaign: str, items: list[tuple[Candidate, str]]) -> int:
        meta = await self.r.hmget(keys.campaign_meta(campaign), "text", "sender")
        text, sender = _text(meta[0]), _text(meta[1]) or self.s.sender
        shared = _shared_text(text)
        if shared is None:
            log.warning("not resending %d messages of %s: no shared campaign text (personalised "
                        "or API messages)", len(items), campaign)  # fmt: skip
            return 0
        delay_ms = self.s.resend_delay * 1000
        expires = clock.now_ms() + delay_ms + self.s.validity_minutes * 60_000
        for n in sorted({c.n for c, _ in items}):
            dests = tuple(Destination(c.new_id, to) for c, to in items if c.n == n)
            batch = Batch(campaign, 0, f"{campaign}-r{n}-{int(time.time())}", sender, shared,
                          dests, expires)  # fmt: skip
            await asyncio.to_thread(self.enqueue, batch.to_dict(), delay_ms)
            await self._mark(campaign, [d.message_id for d in dests])
        return len(items)

    async def _mark(self, campaign: str, new_ids: list[str]) -> None:
        """Markers, and the resends counted as new queued messages of the campaign."""
        pipe = self.r.pipeline(transaction=True)
        for mid in new_ids:
            original, n = ids.original_of(mid)
            pipe.hset(keys.campaign_resent(campaign), original, n)  # export's index
        pipe.expire(keys.campaign_resent(campaign), MARKER_TTL)
        pipe.hincrby(keys.campaign_counts(campaign), State.QUEUED.value, len(new_ids))
        pipe.hincrby(keys.campaign_meta(campaign), "messages", len(new_ids))
        pipe.hincrby(keys.campaign_meta(campaign), "resent", len(new_ids))
        await pipe.execute()
        log.info("resent %d temporarily undelivered messages of %s", len(new_ids), campaign)


def _shared_text(text: str) -> str | None:
    """The campaign text when it has no {placeholder}; None when personalised or unset."""
    if not text:
        return None
    try:
        template = Template(text, ())
    except InputError:
        return None
    return None if template.personalised else template.shared_text
