"""The SMSC sandbox's own knobs (`GET|POST /_sandbox/smsc`), beside the shared SandboxSettings.

Defaults follow SMSC.ru's documentation, except `identical_sends_per_minute`: SMSC refuses
the same send request a second time within a minute (error 9), but the sandbox is the
oracle that counts every send, so by default it takes the repeat (and counts it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SmscSettings:
    concurrency: int = 4  # requests of one login at once; the 5th (and more) gets error 9 (0: none)
    status_per_message: int = 5  # status requests per message per window (0: no limit)
    mass_status_per_window: int = 1  # multiple-status requests per login per window (0: none)
    identical_sends_per_minute: int = 0  # SMSC: 1 (a repeat is error 9); 0: no check
    window_s: float = 60.0  # the "within a minute" of the limits above
    max_text_chars: int = 1000  # a longer `mes` is error 1
    max_valid_minutes: int = 1440  # `valid`: 1 to 24 hours
