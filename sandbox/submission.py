"""One send request, destination by destination: the sandbox's per-destination verdicts.

Order of the checks for each destination: message too long (25; a binary message's
payload: its header malformed, 24, see `sandbox.binary`), reused
messageId (23, only when `dedupe_ids` is on), bad prefix (8) / blacklisted (14),
injected fault status, not enough credit (12), anti-flooding (20); otherwise
accepted (26 or 0).  Accepted destinations are counted per messageId
(`state.accepted[id]` = times accepted: more than 1 only with `dedupe_ids` off),
written to the message logs with their accept status, get their final delivery
outcome decided at once (`state.final`, the latest acceptance's) and are handed
to the DLR dispatcher.

This is the hot path (20,000+ destinations/s): no logging, no per-destination
allocation beyond the answer dict, counters aggregated per request.
"""

from __future__ import annotations

import itertools
import os
import time
from bisect import bisect
from typing import Any

from sandbox import binary
from sandbox.callbacks import DlrDispatcher
from sandbox.faults import FaultInjector
from sandbox.flooding import FloodingFilter
from sandbox.parts import count_parts, too_long
from sandbox.reports import Message, Record
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState
from sandbox.statuses import MESSAGE_ACCEPTED, PENDING_ACCEPTED, REJECTED

Json = dict[str, Any]

OPTIONS = ("flash", "transliteration", "language", "intermediateReport")  # kept per message
_PREFIX = os.urandom(4).hex()
_ids = itertools.count(1)


def new_id(kind: str = "m") -> str:
    """A message or bulk id unique for this process (and practically across processes)."""
    return f"sbx-{_PREFIX}-{kind}{next(_ids)}"


class Submitter:
    def __init__(
        self,
        settings: SandboxSettings,
        state: SandboxState,
        faults: FaultInjector,
        flooding: FloodingFilter,
        dlr: DlrDispatcher,
    ) -> None:
        self.settings, self.state = settings, state
        self.faults, self.flooding, self.dlr = faults, flooding, dlr

    def submit(self, bulk_id: str, messages: list[dict]) -> tuple[list[Json], list[str]]:
        """Answer every destination of a validated request; also the accepted messageIds."""
        now, wall = time.monotonic(), time.time()
        answers: list[Json] = []
        records: list[Record] = []
        accept_status = self._accept_status()
        for message in messages:
            self._submit_message(bulk_id, message, now, wall, accept_status, answers, records)
        self.state.add_parts(int(wall), sum(r[0].sms_count for r in records))
        self.state.statuses[accept_status["name"]] += len(records)
        self.flooding.sweep(now)
        ids = [r[1] for r in records]
        if records:
            self._log(ids, records)
            self.dlr.schedule(records, now, wall)
        return answers, ids

    def _log(self, ids: list[str], records: list[Record]) -> None:
        """Each accepted destination is in the message logs at once, with its accept status
        (replaced by its final report when that is released); a messageId accepted again
        shows its latest acceptance.  At most `dlr.logs_max` messageIds are kept."""
        logs, cap = self.state.logs, self.settings.dlr.logs_max
        if len(logs) + len(records) <= cap:
            logs.update(zip(ids, records, strict=True))
        elif len(logs) < cap:  # this request fills the logs
            for mid, record in zip(ids, records, strict=True):
                if mid in logs or len(logs) < cap:
                    logs[mid] = record
        elif again := logs.keys() & ids:  # full: only messageIds logged before change
            for mid, record in zip(ids, records, strict=True):
                if mid in again:
                    logs[mid] = record

    def _accept_status(self) -> Json:
        return PENDING_ACCEPTED if self.settings.accept_status == "PENDING" else MESSAGE_ACCEPTED

    def _message(
        self, bulk_id: str, m: dict, text: str, parts: int, wall: float, accept_status: Json
    ) -> Message:
        s = self.settings
        return Message(
            bulk_id=bulk_id,
            sender=m.get("from") or "",
            text=text,
            sms_count=parts,
            price=parts * s.price_per_part,
            currency=s.currency,
            callback_data=m.get("callbackData"),
            notify_url=m.get("notifyUrl"),
            content_type=m.get("notifyContentType") or "application/json",
            intermediate=bool(m.get("intermediateReport")),
            accept_status=accept_status,
            sent_at=wall,
        )

    def _submit_message(
        self,
        bulk_id: str,
        m: dict,
        now: float,
        wall: float,
        ok_status: Json,
        answers: list[Json],
        records: list[Record],
    ) -> None:
        payload = binary.read(m["binary"]) if "binary" in m else None
        if payload is None:
            text: str = m["text"]
            parts = count_parts(text, m.get("language"))
            refused = "REJECTED_MESSAGE_TOO_LONG" if too_long(text, parts) else None
        else:  # its hex stands for its text (flooding compares it, reports carry it)
            text, parts, refused = payload.octets.hex(), payload.parts, payload.refused or None
        message = self._message(bulk_id, m, text, parts, wall, ok_status)
        options = {k: m[k] for k in OPTIONS if m.get(k) not in (None, False)}
        state, accepted = self.state, self.state.accepted
        names, cumulative, total = self.dlr.outcome_table()
        rnd = state.rng_dlr.random
        final = state.final
        destinations = m["destinations"]
        state.destinations_received += len(destinations)
        for dest in destinations:
            to: str = dest["to"]
            mid = dest.get("messageId")
            client_id = mid is not None
            if not client_id:
                mid = new_id()
            rejection = refused or self._verdict(
                to, mid if client_id else None, text, message.price, now
            )
            if rejection is None:
                accepted[mid] = accepted.get(mid, 0) + 1
                if payload is not None:
                    state.payloads[mid] = text
                if options:
                    state.options[mid] = options
                outcome = names[bisect(cumulative, rnd() * total)]
                final[mid] = outcome
                records.append((message, mid, to, outcome))
                answers.append({"to": to, "status": ok_status, "smsCount": parts, "messageId": mid})
                continue
            self._rejected(rejection, mid if client_id else None)
            answers.append(
                {"to": to, "status": REJECTED[rejection], "smsCount": parts, "messageId": mid}
            )

    def _verdict(self, to: str, mid: str | None, text: str, cost: float, now: float) -> str | None:
        """The rejection for one destination, or None when it is accepted (credit taken)."""
        state, s = self.state, self.settings
        if mid is not None and s.dedupe_ids and mid in state.accepted:
            return "REJECTED_DUPLICATE_MESSAGE_ID"
        if s.bad_prefixes and to.startswith(s.bad_prefixes):
            return "REJECTED_PREFIX_MISSING"
        if s.blacklist and to in s.blacklist:
            return "REJECTED_DESTINATION"
        if s.faults.inject:
            injected = self.faults.injected_status(to)
            if injected is not None:
                return injected
        if state.credit < cost:
            return "REJECTED_NOT_ENOUGH_CREDITS"
        if self.flooding.enabled and not self.flooding.allow(to, text, now):
            state.flood_rejections[to] += 1
            return "REJECTED_FLOODING_FILTER"
        state.credit -= cost
        return None

    def _rejected(self, status: str, client_mid: str | None) -> None:
        self.state.statuses[status] += 1
        if client_mid is not None:
            ids = self.state.rejected_ids
            ids[client_mid] = ids.get(client_mid, 0) + 1
