"""What the SmsManager sandbox keeps of the requests it accepted (for /RequestList and
/RequestStatus), and the `Sandbox` that also forgets them on /_sandbox/reset.

A taken request waits `SmsManagerSettings.queue_s` (as set when it was taken) in the
gateway's queue (state 0, waiting, every number still to go), then is processed: sent
(state 2).  Only a queued request is listed by /RequestList; /RequestStatus answers about
every request taken."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sandbox.gateway import Sandbox
from sandbox.settings import SandboxSettings
from sandbox.smsmanager.settings import SmsManagerSettings

WAITING, SENT = 0, 2  # request states: waiting to be sent, sent


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

    def queued(self, now: float) -> bool:
        """Still waiting in the gateway's queue (listed by /RequestList)."""
        return now < self.sent_at

    def state(self, now: float) -> int:
        return WAITING if self.queued(now) else SENT


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
