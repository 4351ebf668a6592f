"""Delivery windows: a message goes only while its recipient's local time is inside one.

A window is "HH:MM-HH:MM" (`--window 09:00-20:00`; an end before the start spans
midnight: "21:00-07:00").  The recipient's time zone comes from its number
(phonenumbers' time-zone data, by country and, where a country spans several zones,
by number range):

* one zone: the window in that zone;
* several zones (a mobile range used across a country: Russia, Australia, Brazil's
  mobiles...): only while the window is open in *all* of them, so the message is never
  early nor late wherever the recipient is; when they are too far apart to share an
  hour (no overlap within two days), the zone in the middle by UTC offset;
* no zone known: `fallback` (SMS_WINDOW_TIMEZONE, default UTC).

`opening(window, number, now_ms)` is 0 when the window is open now, else the first
moment (epoch ms) it is; a message is sent at or after it, never before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as ph_timezone

from core.errors import InputError

WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
UNKNOWN_ZONE = "Etc/Unknown"
DEFAULT_FALLBACK_ZONE = "UTC"
DAYS_AHEAD = 3  # openings are looked for this far ahead (a window opens every day)
Interval = tuple[int, int]  # epoch ms, [start, end)


@dataclass(frozen=True)
class Window:
    start: time
    end: time  # time(0) for 24:00

    @classmethod
    def parse(cls, text: str) -> Window:
        m = WINDOW_RE.match(text.strip())
        if not m or (m.group(3) == "24" and m.group(4) != "00"):
            raise InputError(f"delivery window {text!r} is not HH:MM-HH:MM", field="window")
        start, end = (
            time(int(m.group(1)), int(m.group(2))),
            time(int(m.group(3)) % 24, int(m.group(4))),
        )
        if start == end and m.group(3) != "24":
            raise InputError(f"delivery window {text!r} is empty", field="window")
        return cls(start, end)

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0) else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"

    def intervals(self, zone: ZoneInfo, around_ms: int) -> list[Interval]:
        """Its openings in `zone` from the day before `around_ms` to DAYS_AHEAD after."""
        today = datetime.fromtimestamp(around_ms / 1000, zone).date()
        out = []
        for k in range(-1, DAYS_AHEAD + 1):
            day = today + timedelta(days=k)
            end_day = day + timedelta(days=1) if self.end <= self.start else day
            out.append((_ms(day, self.start, zone), _ms(end_day, self.end, zone)))
        return out


def _ms(day: date, at: time, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, at, zone).astimezone(UTC).timestamp() * 1000)


@lru_cache(maxsize=4096)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zones(number: str, fallback: str = DEFAULT_FALLBACK_ZONE) -> tuple[ZoneInfo, ...]:
    """The time zones a number (international digits) may be in."""
    try:
        names = ph_timezone.time_zones_for_number(phonenumbers.parse("+" + number))
    except phonenumbers.NumberParseException:
        names = ()
    known = [n for n in names if n != UNKNOWN_ZONE]
    return tuple(_zone(n) for n in known) or (_zone(fallback),)


def opening(window: Window, number: str, now_ms: int, fallback: str = DEFAULT_FALLBACK_ZONE) -> int:
    """0 when the window is open now for this number, else when it next opens (ms)."""
    tzs = zones(number, fallback)
    spans = _common([window.intervals(z, now_ms) for z in tzs])
    if not spans:  # zones too far apart to share an hour: the middle one by UTC offset
        middle = sorted(tzs, key=lambda z: _offset(z, now_ms))[len(tzs) // 2]
        spans = window.intervals(middle, now_ms)
    for start, end in spans:
        if end > now_ms:
            return 0 if start <= now_ms else start
    raise AssertionError("a window opens every day")  # pragma: no cover


def _offset(zone: ZoneInfo, now_ms: int) -> float:
    offset = datetime.fromtimestamp(now_ms / 1000, zone).utcoffset()
    return offset.total_seconds() if offset else 0.0


def _common(lists: list[list[Interval]]) -> list[Interval]:
    """The intersection of sorted interval lists."""
    common = lists[0]
    for other in lists[1:]:
        out, i, j = [], 0, 0
        while i < len(common) and j < len(other):
            start, end = max(common[i][0], other[j][0]), min(common[i][1], other[j][1])
            if start < end:
                out.append((start, end))
            if common[i][1] < other[j][1]:
                i += 1
            else:
                j += 1
        common = out
    return common
