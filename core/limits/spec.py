"""Limit and time specs in the ANTS 2FA formats.

    Limit format:  {attempts}/{timeLength}{timeUnit}    e.g. 3/1d, 1/3s, 10000/1d
    Time format:   {timeLength}{timeUnit}               e.g. 15m, 1h, 2d

`attempts` and `timeLength` are positive integers (ASCII digits only) and
`timeUnit` is one of ms, s, m, h, d (lower case).  Anything else raises
`ConfigError` naming the variable the value came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConfigError

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_WINDOW_MS = (
    366 * UNIT_MS["d"]
)  # the scripts keep timestamps in µs doubles: stay far below 2**53

LIMIT_FORMAT = "expected {attempts}/{timeLength}{timeUnit} with units ms,s,m,h,d (e.g. 3/1d)"
TIME_FORMAT = "expected {timeLength}{timeUnit} with units ms,s,m,h,d (e.g. 15m)"

_DURATION = r"([0-9]+)(ms|s|m|h|d)"
_DURATION_RE = re.compile(_DURATION)
_LIMIT_RE = re.compile(r"([0-9]+)/" + _DURATION)


def _positive(variable: str, value: str, what: str, fmt: str) -> int:
    number = int(value)
    if number <= 0:
        raise ConfigError(variable, f"{what} must be a positive integer; {fmt}")
    return number


def _window_ms(variable: str, length: str, unit: str, fmt: str) -> int:
    window = _positive(variable, length, "timeLength", fmt) * UNIT_MS[unit]
    if window > MAX_WINDOW_MS:
        raise ConfigError(variable, f"{length}{unit} is longer than 366d; {fmt}")
    return window


def parse_duration(value: str, variable: str = "duration") -> int:
    """'15m' -> 900000 (milliseconds)."""
    match = _DURATION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(variable, f"{value!r} is not a time; {TIME_FORMAT}")
    return _window_ms(variable, match[1], match[2], TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `attempts` events in any window of `window_ms` milliseconds."""

    attempts: int
    window_ms: int

    def __post_init__(self) -> None:
        if self.attempts <= 0 or self.window_ms <= 0:
            raise ValueError(f"attempts and window_ms must be positive: {self!r}")

    @classmethod
    def parse(cls, value: str, variable: str = "limit") -> Limit:
        """'3/1d' -> Limit(3, 86400000); malformed values raise ConfigError(variable, ...)."""
        match = _LIMIT_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(variable, f"{value!r} is not a limit; {LIMIT_FORMAT}")
        attempts = _positive(variable, match[1], "attempts", LIMIT_FORMAT)
        return cls(attempts, _window_ms(variable, match[2], match[3], LIMIT_FORMAT))

    def __str__(self) -> str:
        for unit in ("d", "h", "m", "s"):
            if self.window_ms % UNIT_MS[unit] == 0:
                return f"{self.attempts}/{self.window_ms // UNIT_MS[unit]}{unit}"
        return f"{self.attempts}/{self.window_ms}ms"


@dataclass(frozen=True, slots=True)
class Rate(Limit):
    """Throughput: `attempts` cost units (SMS parts) per `window_ms`, e.g. Rate.parse('200/1s').

    Same format as `Limit`; a `Rate` is a `Limit` read as a steady flow rather
    than a cap per window.
    """

    @property
    def emission_us(self) -> float:
        """Microseconds between two units at the steady rate (may be fractional)."""
        return self.window_ms * 1000 / self.attempts

    @property
    def per_second(self) -> float:
        return self.attempts * 1000 / self.window_ms
