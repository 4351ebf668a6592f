"""What the SmsManager sandbox keeps of the requests it accepted (for /RequestList and
/RequestStatus), and the `Sandbox` that also forgets them on /_sandbox/reset."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sandbox.gateway import Sandbox
from sandbox.settings import SandboxSettings


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
    state: int = 2  # request state: 2 sent (the sandbox hands everything over at once)


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
    """The shared sandbox pieces (state, faults, settings, control) plus the request book."""

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self.book = Book()

    def reset(self) -> None:
        super().reset()
        self.book.clear()
