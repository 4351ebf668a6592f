"""Placeholders, numbers, ids and SMS parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ids
from core.errors import InputError, PlaceholderError
from core.sms import count_parts
from dispatcher import numbers
from dispatcher.numbers import normalise
from dispatcher.template import Template
from providers.ants import PROFILE as ANTS


def test_template_renders_columns_case_insensitively() -> None:
    t = Template("Hi {Name}, code {code} {{literal}}", ["phone", "name", "CODE"])
    assert t.personalised
    assert t.render(["0812345678", "Ann", "42"]) == "Hi Ann, code 42 {literal}"


def test_template_without_placeholders_is_shared() -> None:
    t = Template("Sale {{today}}", ["phone"])
    assert not t.personalised and t.shared_text == "Sale {today}"


def test_unknown_placeholder_names_the_columns() -> None:
    with pytest.raises(PlaceholderError, match=r"\{nme\}.*phone, name"):
        Template("Hi {nme}", ["phone", "name"], file="c.csv")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812345678", "66812345678"),
        ("66812345678", "66812345678"),
        ("+66 81 234 5678", "66812345678"),
        ("081-234-5678", "66812345678"),
        ("812345678", "66812345678"),
        ("+447911123456", "447911123456"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw, "TH") == expected


@pytest.mark.parametrize("raw", ["", "12345", "abc", "0812"])
def test_normalise_rejects(raw: str) -> None:
    with pytest.raises(InputError) as e:
        normalise(raw, "TH")
    assert e.value.field == "phone"


def test_ids_are_deterministic_and_within_limits() -> None:
    c = ids.check_campaign("c" * 64)
    assert ids.bulk_id(c, 10**9) == ids.bulk_id(c, 10**9)
    assert len(ids.bulk_id(c, 10**9)) <= ids.MAX_BULK_ID
    assert len(ids.message_id(c, 10**9)) <= ids.MAX_MESSAGE_ID
    assert ids.campaign_of(ids.message_id("spring-2026", 17)) == "spring-2026"
    assert ids.keyed_message_id("api", "order-1") == ids.keyed_message_id("api", "order-1")
    with pytest.raises(InputError):
        ids.check_campaign("bad id with spaces")


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "GSM7", 1),
        ("a" * 161, "GSM7", 2),
        ("a" * 306, "GSM7", 2),
        ("a" * 307, "GSM7", 3),
        ("€" * 80, "GSM7", 1),
        ("€" * 81, "GSM7", 2),
        ("ก" * 70, "UCS2", 1),
        ("ก" * 71, "UCS2", 2),
        ("ก" * 134, "UCS2", 2),
        ("ก" * 135, "UCS2", 3),
        ("😀" * 35, "UCS2", 1),
    ],
)
def test_parts(text: str, encoding: str, parts: int) -> None:
    assert count_parts(text) == (encoding, parts)


def test_too_long() -> None:
    assert not ANTS.too_long("a" * 153 * 25)
    assert ANTS.too_long("a" * (153 * 25 + 1)) == "text longer than 25 parts or 4000 bytes"
    assert ANTS.too_long("ก" * 1400)  # 4,200 bytes in UTF-8


@given(
    region=st.sampled_from(["TH", "GB", "US", "DE", "CZ", "RU"]),
    digits=st.text(alphabet="0123456789", min_size=6, max_size=14),
    plus=st.booleans(),
)
@settings(max_examples=2000, deadline=None)
def test_fast_path_agrees_with_phonenumbers(region: str, digits: str, plus: bool) -> None:
    """Whenever the fast path answers, the full phonenumbers parse gives the same number."""
    text = ("+" if plus else "") + digits
    fast = numbers._fast(text, region)
    if fast is None:
        return
    assert numbers._parse(text, region) == fast


def test_fast_path_covers_common_thai_forms() -> None:
    for raw in ("0812345678", "66812345678", "+66 81 234 5678", "081-234-5678"):
        assert numbers._fast(raw, "TH") == "66812345678"
