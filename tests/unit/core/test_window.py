"""Delivery windows in the recipient's local time: never early, with the zone fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InputError
from core.window import Window, opening, zones

TH = "66812345678"  # Asia/Bangkok, UTC+7 all year
RU_MOBILE = "79161234567"  # a range phonenumbers places in 16 zones (UTC+2 .. UTC+12)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-01T10:00+07:00", 0),  # inside
        ("2026-12-01T09:00+07:00", 0),  # the opening minute itself
        ("2026-12-01T08:59:59+07:00", "2026-12-01T09:00+07:00"),  # never a second early
        ("2026-12-01T20:00+07:00", "2026-12-02T09:00+07:00"),  # closed at the end minute
        ("2026-12-01T23:30+07:00", "2026-12-02T09:00+07:00"),
    ],
)
def test_one_zone(now: str, expected: int | str) -> None:
    w = Window.parse("09:00-20:00")
    assert opening(w, TH, ms(now)) == (expected if expected == 0 else ms(str(expected)))


def test_a_window_over_midnight_and_to_24() -> None:
    night = Window.parse("21:00-07:00")
    assert opening(night, TH, ms("2026-12-01T23:00+07:00")) == 0
    assert opening(night, TH, ms("2026-12-02T06:59+07:00")) == 0
    assert opening(night, TH, ms("2026-12-02T07:00+07:00")) == ms("2026-12-02T21:00+07:00")
    assert str(Window.parse("09:00-24:00")) == "09:00-24:00"
    assert opening(Window.parse("09:00-24:00"), TH, ms("2026-12-01T23:59+07:00")) == 0


def test_several_zones_only_while_open_in_all_or_the_middle_one() -> None:
    # Czech numbers: one zone; a window across DST uses each day's own offset
    assert opening(Window.parse("09:00-20:00"), "420601234567", ms("2026-07-01T08:30+02:00")) == ms(
        "2026-07-01T09:00+02:00"
    )
    # 16 zones from UTC+2 to UTC+12 never share an hour of 09:00-12:00: the middle zone
    short = Window.parse("09:00-12:00")
    at = opening(short, RU_MOBILE, ms("2026-12-01T00:00+00:00"))
    assert at and datetime.fromtimestamp(at / 1000, UTC).minute == 0
    # 08:00-22:00 (14 h) overlaps across 10 h of offsets: 4 h a day, in all of them
    wide = Window.parse("08:00-22:00")
    first = opening(wide, RU_MOBILE, ms("2026-12-01T00:00+00:00"))
    for z in zones(RU_MOBILE):
        local = datetime.fromtimestamp(first / 1000, z).time()
        assert local.hour >= 8 and local.hour < 22, (z, local)


def test_no_zone_known_uses_the_fallback() -> None:
    w = Window.parse("09:00-20:00")
    assert opening(w, "999123", ms("2026-12-01T08:00+00:00")) == ms("2026-12-01T09:00+00:00")
    at = opening(w, "999123", ms("2026-12-01T08:00+00:00"), fallback="Asia/Tokyo")
    assert at == 0  # 17:00 in Tokyo


@pytest.mark.parametrize(
    "bad",
    ["9-20", "09:00", "25:00-26:00", "09:00-09:00", "09:60-10:00", "24:30-10:00", "09:00-24:30"],
)
def test_bad_windows_are_input_errors_naming_the_field(bad: str) -> None:
    with pytest.raises(InputError) as e:
        Window.parse(bad)
    assert e.value.field == "window"
