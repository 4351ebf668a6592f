from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.limits.spec import UNIT_MS, Limit, Rate, parse_duration


@pytest.mark.parametrize(
    ("text", "attempts", "window_ms"),
    [
        ("3/1d", 3, 86_400_000),
        ("1/3s", 1, 3_000),
        ("10000/1d", 10_000, 86_400_000),
        ("10/15m", 10, 900_000),
        ("2/10s", 2, 10_000),
        ("20/1h", 20, 3_600_000),
        ("5/250ms", 5, 250),
        (" 6/1h ", 6, 3_600_000),
    ],
)
def test_limit_parses_the_ants_format(text: str, attempts: int, window_ms: int) -> None:
    assert Limit.parse(text) == Limit(attempts, window_ms)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("15m", 900_000), ("1h", 3_600_000), ("2d", 172_800_000), ("500ms", 500), ("3s", 3_000)],
)
def test_duration_parses_the_ants_time_format(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "3/",
        "/1d",
        "3/d",
        "3/1",
        "3/1w",
        "3/1D",
        "3/1 d",
        "-3/1d",
        "3/-1d",
        "3.5/1d",
        "3/1.5d",
        "3//1d",
        "3/1dd",
        "three/1d",
        "3/1d;",
        "๓/1d",
        "0/1d",
        "3/0s",
        "3/367d",
    ],
)
def test_malformed_limits_raise_config_error_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Limit.parse(text, "OTP_SEND_PER_PHONE_LIMIT")
    assert caught.value.variable == "OTP_SEND_PER_PHONE_LIMIT"
    assert "expected {attempts}/{timeLength}{timeUnit} with units ms,s,m,h,d" in str(caught.value)
    assert str(caught.value).startswith("OTP_SEND_PER_PHONE_LIMIT: ")


def test_the_error_says_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match=r"'3/1w' is not a limit"):
        Limit.parse("3/1w", "X")
    with pytest.raises(ConfigError, match="attempts must be a positive integer"):
        Limit.parse("0/1d", "X")
    with pytest.raises(ConfigError, match="timeLength must be a positive integer"):
        Limit.parse("1/0ms", "X")


@pytest.mark.parametrize("text", ["", "15", "m", "15 m", "15w", "1.5h", "0s", "3/1d"])
def test_malformed_durations_raise_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "PIN_TTL")
    assert caught.value.variable == "PIN_TTL"
    assert "expected {timeLength}{timeUnit} with units ms,s,m,h,d" in caught.value.problem


def test_non_string_values_are_config_errors_too() -> None:
    with pytest.raises(ConfigError):
        Limit.parse(None, "X")  # type: ignore[arg-type]


def test_rate_reads_the_same_format_as_units_per_window() -> None:
    rate = Rate.parse("200/1s", "ACCOUNT_RATE")
    assert isinstance(rate, Rate)
    assert rate == Rate(200, 1_000)
    assert rate.emission_us == 5_000
    assert rate.per_second == 200
    assert Rate.parse("3/1s").emission_us == pytest.approx(333_333.333, abs=0.001)


def test_limit_objects_refuse_non_positive_values() -> None:
    with pytest.raises(ValueError):
        Limit(0, 1_000)
    with pytest.raises(ValueError):
        Limit(1, 0)


@given(
    attempts=st.integers(min_value=1, max_value=10**9),
    length=st.integers(min_value=1, max_value=366),
    unit=st.sampled_from(sorted(UNIT_MS)),
)
def test_parse_and_str_round_trip(attempts: int, length: int, unit: str) -> None:
    limit = Limit.parse(f"{attempts}/{length}{unit}")
    assert limit == Limit(attempts, length * UNIT_MS[unit])
    assert Limit.parse(str(limit)) == limit


@given(st.text(max_size=12))
def test_any_text_is_a_limit_or_a_config_error(text: str) -> None:
    try:
        limit = Limit.parse(text, "V")
    except ConfigError as error:
        assert error.variable == "V"
    else:
        assert limit.attempts > 0 and limit.window_ms > 0
