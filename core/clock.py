"""Wall-clock time for validity periods, schedules and delivery windows, in one place.

`SMS_CLOCK_OFFSET_S` moves it (a testing aid: a test starts workers "at 21:00 local
time" without waiting for the evening; leave it unset in production).  Unit tests
patch `now_ms` itself.  Rate limits and claims use Redis `TIME` and are not moved.
"""

from __future__ import annotations

import os
import time

OFFSET_VAR = "SMS_CLOCK_OFFSET_S"


def _offset_s() -> float:
    raw = os.environ.get(OFFSET_VAR, "").strip()
    return float(raw) if raw else 0.0


OFFSET_S = _offset_s()


def now_ms() -> int:
    """Epoch milliseconds, moved by SMS_CLOCK_OFFSET_S."""
    return int((time.time() + OFFSET_S) * 1000)
