"""The ANTS time and limit formats ("15m", "3/1d") and an in-memory sliding window.

Used by the 2FA applications (pinTimeToLive, verifyPinLimit, ...) and by the
sandbox's own settings (flooding rule), so both speak the same format.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME = re.compile(r"^([1-9][0-9]*)(ms|s|m|h|d)$")
_LIMIT = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)(ms|s|m|h|d)$")

TIME_FORMAT_ERROR = (
    'Time format should be "{timeLength}{timeUnit}". Time units can be: ms, s, m, h, d'
)
LIMIT_FORMAT_ERROR = (
    'Limit format should be "{attempts}/{timeLength}{timeUnit}". Time units can be: ms, s, m, h, d'
)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `attempts` events per `seconds`."""

    attempts: int
    seconds: float


def parse_time(text: object) -> float | None:
    """Seconds for a time-format string such as "15m", or None when malformed."""
    match = _TIME.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def parse_limit(text: object) -> Limit | None:
    """The Limit for a limit-format string such as "3/1d", or None when malformed."""
    match = _LIMIT.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    return Limit(int(match.group(1)), int(match.group(2)) * UNIT_SECONDS[match.group(3)])


class SlidingWindows:
    """Per-key sliding-window counters: `hit` records an event if the limit allows it."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: Limit, now: float) -> bool:
        """True (and recorded) when fewer than limit.attempts events are in the window."""
        events = self._events.setdefault(key, deque())
        cutoff = now - limit.seconds
        while events and events[0] <= cutoff:
            events.popleft()
        if len(events) >= limit.attempts:
            return False
        events.append(now)
        return True

    def retry_after(self, key: str, limit: Limit, now: float) -> float:
        """Seconds until the oldest event in the window leaves it."""
        events = self._events.get(key)
        if not events:
            return 0.0
        return max(0.0, events[0] + limit.seconds - now)
