"""Sandbox building blocks without sockets: limit formats, flooding windows, settings updates."""

from __future__ import annotations

import pytest

from sandbox.flooding import FloodingFilter
from sandbox.limits import Limit, SlidingWindows, parse_limit, parse_time
from sandbox.settings import FloodSettings, SandboxSettings, update


def test_time_and_limit_formats() -> None:
    assert parse_time("15m") == 900 and parse_time(" 2d ") == 172800 and parse_time("5ms") == 0.005
    assert parse_limit("3/1d") == Limit(3, 86400.0) and parse_limit("10/15m") == Limit(10, 900.0)
    for bad in ("15", "m", "0m", "1.5h", "15x", None, 15):
        assert parse_time(bad) is None
    for bad in ("3/1", "/1d", "0/1d", "3/0s", "3-1d", None):
        assert parse_limit(bad) is None


def test_sliding_window_frees_slots_as_time_passes() -> None:
    windows, limit = SlidingWindows(), Limit(2, 10.0)
    assert [windows.hit("k", limit, t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert windows.retry_after("k", limit, 2.0) == pytest.approx(8.0)
    assert windows.hit("k", limit, 10.5) is True


def test_flooding_windows_slide_and_differ() -> None:
    flood = FloodingFilter(FloodSettings(varied="3/10s", identical="2/5s"))
    assert [flood.allow("1", "a", t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert flood.allow("1", "b", 3.0) is True  # 3 varied within 10 s now
    assert flood.allow("1", "c", 4.0) is False
    assert flood.allow("1", "a", 10.5) is True  # the first "a" and "a" left both windows
    flood.sweep(1000.0)
    assert flood.allow("1", "a", 1000.0) is True


def test_settings_update_validates_names_and_types() -> None:
    settings = SandboxSettings()
    update(
        settings,
        {"faults": {"error_share": 0.5}, "blacklist": ["668"], "accept_status": "ACCEPTED"},
    )
    assert settings.faults.error_share == 0.5 and settings.blacklist == frozenset({"668"})
    for bad in (
        {"nope": 1},
        {"credit": "many"},
        {"accept_status": "MAYBE"},
        {"flooding": {"varied": "lots"}},
        {"dlr": {"outcomes": {"LOST": 1}}},
    ):
        with pytest.raises(ValueError):
            update(SandboxSettings(), bad)
