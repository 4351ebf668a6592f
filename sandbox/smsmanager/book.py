"""What the SmsManager sandbox keeps of the requests it accepted (for /RequestList and
/RequestStatus), the delivery it decides for each number sent, and the `Sandbox` that
also forgets them on /_sandbox/reset.

A taken request waits `SmsManagerSettings.queue_s` (as set when it was taken) in the
gateway's queue (state 0, waiting, every number still to go, receipt 0), then is
processed: sent (state 2).  Only a queued request is listed by /RequestList;
/RequestStatus answers about every request taken.

Delivery (`deliver`), decided when the request is taken, the way the other sandboxes
decide theirs, from the shared `dlr` settings: an outcome per number sent drawn from
`dlr.outcomes` (the seeded `rng_dlr`), kept in `state.final` under the message's id at
SmsManager, `{customid or requestId}:{number}` (the latest acceptance's: `?final=1`).
Its receipt state (`RECEIPTS`, the seed's receipt table: 2 delivered, 3 not delivered,
6 expired, 7 invalid number) shows `dlr.delay_ms` (plus up to `dlr.jitter_ms`; plus
`dlr.delayed_extra_ms` for a `dlr.delayed_share` of numbers) after the request is sent;
until then receipt 1 (delivering), and for an `dlr.intermediate_share` of numbers 5
(waiting: phone off, memory full) over the second half of that time.  `dlr.enabled` off:
decided all the same, never shown (receipt 1 for ever).  A number not sent again
(`dedupe_ids` on, a reused id) gets no receipt (0 for ever).  The sandbox sends no
delivery callbacks.

Least favourable readings:
* The request state stays 2 (sent, final in the seed) whatever a number's receipt: a
  request that was sent says nothing of delivery, a client reading 2 as delivered (or
  waiting for a request state to end a message) is caught.  Receipt 6 (not delivered
  before the validity ended) is a message that was sent: request state 2, not 7 (cancelled
  by the system before sending).
* UNDELIVERABLE_PERMANENT (unknown subscriber) is receipt 7, the invalid number, and
  still a message sent and billed.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect
from dataclasses import dataclass, field

from sandbox.gateway import Sandbox
from sandbox.settings import SandboxSettings
from sandbox.smsmanager.settings import SmsManagerSettings

WAITING, SENT = 0, 2  # request states: waiting to be sent, sent
NO_RECEIPT, DELIVERING, PHONE_UNREACHABLE = 0, 1, 5  # receipt states before the outcome
EXPECTED_RECEIPTS = 1  # per number, in /RequestStatus
# `dlr.outcomes` name -> the receipt state showing it (every name `dlr.outcomes` allows)
RECEIPTS = {"DELIVERED": 2, "UNDELIVERABLE": 3, "EXPIRED": 6, "UNDELIVERABLE_PERMANENT": 7}


@dataclass(frozen=True, slots=True)
class Delivery:
    """The receipt decided for one number sent, and when (time.monotonic()) it shows."""

    outcome: str  # a `dlr.outcomes` name
    due: float  # the outcome's receipt from then on
    unreachable_from: float = math.inf  # receipt 5 from then until `due`

    def receipt(self, now: float) -> int:
        if now >= self.due:
            return RECEIPTS[self.outcome]
        return PHONE_UNREACHABLE if now >= self.unreachable_from else DELIVERING


@dataclass(slots=True)
class Request:
    """One accepted /Send request: what /RequestList and /RequestStatus show of it."""

    request_id: str
    gateway: str
    time: str  # YYYY-MM-DD HH:MM:SS
    expiration: str  # as given, "T" read as a space; "" when none
    sender: str
    custom_id: str
    numbers: list[str] = field(default_factory=list)  # the numbers it was accepted for
    sent_at: float = 0.0  # time.monotonic() when it leaves the queue (taken + queue_s)
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # by number, those sent

    def queued(self, now: float) -> bool:
        """Still waiting in the gateway's queue (listed by /RequestList)."""
        return now < self.sent_at

    def state(self, now: float) -> int:
        return WAITING if self.queued(now) else SENT

    def lines(self, now: float) -> list[str]:
        """/RequestStatus: `number|request state|expected receipts|receipt state` each."""
        if self.queued(now):
            return [f"{n}|{WAITING}|{EXPECTED_RECEIPTS}|{NO_RECEIPT}" for n in self.numbers]
        out = []
        for n in self.numbers:
            delivery = self.deliveries.get(n)
            receipt = NO_RECEIPT if delivery is None else delivery.receipt(now)
            out.append(f"{n}|{SENT}|{EXPECTED_RECEIPTS}|{receipt}")
        return out


class Book:
    """Accepted requests by id, oldest first; ids keep counting across resets."""

    def __init__(self) -> None:
        self._ids = itertools.count(1_000_001)
        self.requests: dict[str, Request] = {}

    def clear(self) -> None:
        self.requests.clear()

    def new_id(self) -> str:
        return str(next(self._ids))

    def add(self, request: Request) -> Request:
        self.requests[request.request_id] = request
        return request


class SmsManagerSandbox(Sandbox):
    """The shared sandbox pieces (state, faults, settings, control) plus the request book
    and SmsManager's own settings."""

    def __init__(
        self, settings: SandboxSettings, smsmanager: SmsManagerSettings | None = None
    ) -> None:
        super().__init__(settings)
        self.book = Book()
        self.smsmanager = smsmanager or SmsManagerSettings()

    def reset(self) -> None:
        super().reset()
        self.book.clear()

    def deliver(self, key: str, sent_at: float) -> Delivery:
        """Decide the delivery of the message `key` (`{customid or requestId}:{number}`),
        sent at `sent_at`, and keep its outcome in `state.final`."""
        d, state = self.settings.dlr, self.state
        rng = state.rng_dlr
        names, cumulative, total = self.dlr.outcome_table()
        outcome = names[bisect(cumulative, rng.random() * total)]
        state.final[key] = outcome
        if not d.enabled:
            return Delivery(outcome, math.inf)
        delay = (d.delay_ms + (rng.uniform(0, d.jitter_ms) if d.jitter_ms > 0 else 0)) / 1000
        if d.delayed_share > 0 and rng.random() < d.delayed_share:
            delay += d.delayed_extra_ms / 1000
            state.dlr["delayed"] += 1
        unreachable = d.intermediate_share > 0 and rng.random() < d.intermediate_share
        halfway = sent_at + delay / 2 if unreachable else math.inf
        return Delivery(outcome, sent_at + delay, halfway)
