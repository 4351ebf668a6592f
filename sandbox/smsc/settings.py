"""The SMSC sandbox's own knobs (`GET|POST /_sandbox/smsc`), beside the shared SandboxSettings.

Defaults follow SMSC.ru's documentation at its least favourable reading (each named in
`sandbox.smsc.gateway`): a send request repeated within a minute is error 9 even when the
first failed, every status request counts against each message it names, the fifth
concurrent request of a login is error 9.  0 switches a limit off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SmscSettings:
    concurrency: int = 4  # requests of one login at once; the 5th (and more) gets error 9 (0: none)
    status_per_message: int = 5  # status requests per message per window (0: no limit)
    mass_status_per_window: int = 1  # multiple-status requests per login per window (0: none)
    identical_sends_per_minute: int = 1  # equal send requests per window (the 2nd: error 9)
    window_s: float = 60.0  # the "within a minute" of the limits above
    max_text_chars: int = 1000  # a longer `mes` is error 1
    max_valid_minutes: int = 1440  # `valid`: 1 to 24 hours
