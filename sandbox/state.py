"""Everything the sandbox received and decided, so tests can assert exactly-once.

One `SandboxState` per running sandbox; `reset()` (POST /_sandbox/reset) empties
it and re-seeds the random generators, so a run is reproducible from the seed.

Everything here is counted from what the sandbox really received and answered:
`accepted[messageId]` is the number of times that id was accepted (more than 1
only when `dedupe_ids` is off), and `inflight` / `max_inflight` count the send
requests being handled at once (latency, timeouts and drops included).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.reports import LogEntry, Report
from sandbox.settings import SandboxSettings

Json = dict[str, Any]


@dataclass(slots=True)
class PinRecord:
    """One 2FA PIN as the sandbox generated it (exposed in /_sandbox/state: a sandbox only)."""

    pin_id: str
    application_id: str
    message_id: str
    to: str
    pin: str
    expires_at: float  # monotonic
    attempts_left: int
    sent_at_mono: float
    sent_at_wall: float
    verified: bool = False
    resends: int = 0

    def to_json(self) -> Json:
        return {
            "pinId": self.pin_id,
            "applicationId": self.application_id,
            "messageId": self.message_id,
            "to": self.to,
            "pin": self.pin,
            "attemptsLeft": self.attempts_left,
            "verified": self.verified,
            "resends": self.resends,
            "sentAtMonotonic": self.sent_at_mono,
            "sentAtWall": self.sent_at_wall,
        }


@dataclass(slots=True)
class OtpRequest:
    """When a 2FA request arrived (for the PIN latency benchmark)."""

    kind: str  # send | resend | verify
    pin_id: str
    to: str
    status: int  # HTTP status answered
    monotonic: float
    wall: float


@dataclass(slots=True)
class TimeoutEvent:
    """A request the sandbox accepted and then did not answer in time."""

    bulk_id: str
    accepted: int
    mode: str
    message_ids: list[str] = field(default_factory=list)


class SandboxState:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.epoch = 0  # bumped by reset(): requests begun before it no longer count
        self.reset()

    def reset(self) -> None:
        self.epoch += 1
        self.inflight = 0  # send requests being handled now
        self.max_inflight = 0  # the most at once since the last reset
        seed = self.settings.seed
        self.rng_faults = random.Random(seed)
        self.rng_dlr = random.Random(seed + 1)
        self.rng_otp = random.Random(seed + 2)
        self.requests: Counter[str] = Counter()  # per endpoint
        self.http: Counter[int] = Counter()  # answers per HTTP status
        self.send_requests = 0  # requests to the send endpoints (for throttle_every)
        self.accepted_requests = 0  # of them, those asked whether to time out (timeout_every)
        self.destinations_received = 0
        self.accepted: dict[str, int] = {}  # messageId -> times accepted
        self.rejected_ids: dict[str, int] = {}  # client messageId -> times answered rejected
        self.statuses: Counter[str] = Counter()  # per-destination answers by status name
        self.flood_rejections: Counter[str] = Counter()  # number -> times
        self.injected: Counter[str] = Counter()  # number -> injected rejections so far
        self.parts_per_second: dict[int, int] = {}  # wall second -> SMS parts accepted
        self.accepted_parts = 0
        self.credit = self.settings.credit
        self.final: dict[str, str] = {}  # messageId -> outcome of its latest acceptance
        self.payloads: dict[str, str] = {}  # messageId -> binary payload accepted (hex)
        # messageId -> the message options it was accepted with (flash, transliteration,
        # language, intermediateReport; SMSC: flash, translit), only for those that had any
        self.options: dict[str, Json] = {}
        self.reports: dict[str, Report] = {}  # pull queue, each returned once
        self.reports_again: dict[str, list[Report]] = {}  # more reports of a reused messageId
        self.logs: dict[str, LogEntry] = {}  # messageId -> its latest acceptance or report
        self.timeouts: list[TimeoutEvent] = []
        self.dlr: Counter[str] = Counter()  # posts, reports, duplicates, failures, ...
        self.pins: dict[str, PinRecord] = {}
        self.otp_requests: list[OtpRequest] = []

    def seen(self, message_id: str) -> int:
        """Times this messageId came in, accepted or not."""
        return self.accepted.get(message_id, 0) + self.rejected_ids.get(message_id, 0)

    def enter(self) -> int:
        """A send request starts being handled; returns the epoch to hand to `leave`."""
        self.inflight += 1
        if self.inflight > self.max_inflight:
            self.max_inflight = self.inflight
        return self.epoch

    def leave(self, epoch: int) -> None:
        """A send request is answered, dropped or cancelled (not counted across a reset)."""
        if epoch == self.epoch:
            self.inflight -= 1

    def queue_again(self, report: Report, cap: int) -> None:
        """A further report of a messageId whose report is still queued (accepted again,
        `dedupe_ids` off): it waits behind the first instead of overwriting it."""
        if len(self.reports) + self.reports_waiting() < cap:
            self.reports_again.setdefault(report.message_id, []).append(report)

    def reports_waiting(self) -> int:
        """Reports queued behind another of the same messageId."""
        return sum(len(more) for more in self.reports_again.values())

    def take_report(self, mid: str) -> Report:
        """Remove and return the queued report of this messageId (the next one moves up)."""
        report = self.reports.pop(mid)
        more = self.reports_again.get(mid)
        if more:
            self.reports[mid] = more.pop(0)
            if not more:
                del self.reports_again[mid]
        return report

    def add_parts(self, second: int, parts: int) -> None:
        self.parts_per_second[second] = self.parts_per_second.get(second, 0) + parts
        self.accepted_parts += parts

    def summary(self) -> Json:
        """The JSON answer of GET /_sandbox/state (without the big optional lists)."""
        repeated = double_sends = seen_twice = 0
        rejected = self.rejected_ids
        for mid, n in self.accepted.items():
            if n > 1:
                repeated += 1
                double_sends += n - 1
                seen_twice += 1
            elif mid in rejected:
                seen_twice += 1
        seen_twice += sum(1 for mid, n in rejected.items() if n > 1 and mid not in self.accepted)
        return {
            "requests": dict(self.requests),
            "http": {str(k): v for k, v in self.http.items()},
            "destinationsReceived": self.destinations_received,
            "acceptedMessages": len(self.accepted),
            "acceptedMoreThanOnce": repeated,
            "doubleSends": double_sends,
            "seenMoreThanOnce": seen_twice,
            "acceptedParts": self.accepted_parts,
            "statuses": dict(self.statuses),
            "floodRejections": sum(self.flood_rejections.values()),
            "floodRejectionsByNumber": dict(self.flood_rejections),
            "injected": dict(self.injected),
            "partsPerSecond": {str(k): v for k, v in sorted(self.parts_per_second.items())},
            "balance": self.credit,
            "finalDecided": len(self.final),
            "reportsQueued": len(self.reports) + self.reports_waiting(),
            "logged": len(self.logs),
            "inflight": self.inflight,
            "maxConcurrentRequests": self.max_inflight,
            "timeouts": [
                {"bulkId": t.bulk_id, "accepted": t.accepted, "mode": t.mode} for t in self.timeouts
            ],
            "dlr": dict(self.dlr),
            "otp": {"pins": len(self.pins), "requests": len(self.otp_requests)},
        }

    def ids(self) -> Json:
        """?ids=1: every accepted messageId with times accepted and times seen."""
        seen = {mid: self.seen(mid) for mid in self.accepted}
        seen.update((mid, self.seen(mid)) for mid in self.rejected_ids)
        timeout_ids = {mid for t in self.timeouts for mid in t.message_ids}
        return {"accepted": self.accepted, "seen": seen, "acceptedInTimeouts": sorted(timeout_ids)}

    def otp_json(self) -> Json:
        """?pins=1: the generated PINs and when each 2FA request arrived."""
        return {
            "pins": {pin_id: rec.to_json() for pin_id, rec in self.pins.items()},
            "requests": [
                {
                    "kind": r.kind,
                    "pinId": r.pin_id,
                    "to": r.to,
                    "status": r.status,
                    "monotonic": r.monotonic,
                    "wall": r.wall,
                }
                for r in self.otp_requests
            ],
        }
