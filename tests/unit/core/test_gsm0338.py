"""Encoding and part counting against vectors worked out by hand from GSM 03.38
(3GPP TS 23.038) and the ANTS preview examples, not from our own code.

Rules the vectors exercise (TS 23.038 6.2.1 and TS 23.040 9.2.3.24.1):
- default alphabet: 1 septet; extension table (ESC + code): 2 septets;
- one part holds 160 septets or 70 UCS-2 units; a concatenated part 153 or 67;
- a character beyond the BMP is a surrogate pair, 2 UCS-2 units;
- an escape sequence or a surrogate pair never straddles two parts.
"""

from __future__ import annotations

import pytest

from core.sms import LOOKALIKES, Split, count_parts, lookalike_fix, not_gsm, split

A, EURO, THAI, GRIN = "a", "\u20ac", "\u0e01", "\U0001f600"

# (text, encoding, units, parts, remaining): each figure worked out from the rules above
VECTORS = [
    # ANTS POST /sms/1/preview example (ants-http-api-2018.txt 6.1): 65 characters, 95 left
    ("Let's see how many characters will remain unused in this message.", "GSM7", 65, 1, 95),
    ("", "GSM7", 0, 1, 160),
    (A * 160, "GSM7", 160, 1, 0),
    (A * 161, "GSM7", 161, 2, 2 * 153 - 161),
    (A * 306, "GSM7", 306, 2, 0),
    (A * 307, "GSM7", 307, 3, 3 * 153 - 307),
    (EURO, "GSM7", 2, 1, 158),
    (EURO * 80, "GSM7", 160, 1, 0),
    # 76 euros fill 152 septets of part 1; the 77th would straddle, so it opens part 2
    (EURO * 81, "GSM7", 162, 2, 153 - 5 * 2),
    # 306 septets, yet three parts: the escape sequence cannot sit on septets 153-154
    (A * 152 + EURO + A * 152, "GSM7", 306, 3, 153 - 1),
    (A * 151 + EURO + A * 153, "GSM7", 306, 2, 0),  # ends part 1 exactly: no straddle
    (A * 159 + "{", "GSM7", 161, 2, 153 - 8),
    ("\f", "GSM7", 2, 1, 158),  # form feed: extension table 0x0A
    ("[]{}~|^\\", "GSM7", 16, 1, 144),
    (
        "\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e",
        "GSM7",
        10,
        1,
        150,
    ),  # Greek capitals: basic
    (
        "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\u00d8\u00f8\u00c5\u00e5",
        "GSM7",
        14,
        1,
        146,
    ),
    ("\u00e7", "UCS2", 1, 1, 69),  # small c cedilla: 0x09 is the capital only
    ("`", "UCS2", 1, 1, 69),  # grave accent: not in either table
    ("\u00e1", "UCS2", 1, 1, 69),  # a acute: not in the default alphabet
    (THAI * 70, "UCS2", 70, 1, 0),
    (THAI * 71, "UCS2", 71, 2, 2 * 67 - 71),
    (THAI * 134, "UCS2", 134, 2, 0),
    (THAI * 135, "UCS2", 135, 3, 3 * 67 - 135),
    (GRIN * 35, "UCS2", 70, 1, 0),  # 35 surrogate pairs
    # 33 pairs fill 66 units; the 34th would straddle, so it opens part 2 (3 pairs there)
    (GRIN * 36, "UCS2", 72, 2, 67 - 6),
    (THAI * 66 + GRIN + THAI * 66, "UCS2", 134, 3, 67 - 1),
    ("Hello " + GRIN, "UCS2", 8, 1, 62),
    (A * 100 + EURO, "GSM7", 102, 1, 58),
]


@pytest.mark.parametrize(
    ("text", "encoding", "n_units", "parts", "remaining"),
    VECTORS,
    ids=[f"{v[1]}-{v[2]}u-{v[3]}p-{i}" for i, v in enumerate(VECTORS)],
)
def test_split_follows_gsm_0338(
    text: str, encoding: str, n_units: int, parts: int, remaining: int
) -> None:
    assert split(text) == Split(encoding, n_units, parts, remaining)  # type: ignore[arg-type]
    assert count_parts(text) == (encoding, parts)


@pytest.mark.parametrize(
    "text",
    [
        "A long time ago, in a galaxy far, far away...",
        "It is a period of civil war. Rebel spaceships, striking from a hidden base, have won "
        "their first victory against the evil Galactic Empire.",
    ],
)
def test_ants_send_examples_are_one_part(text: str) -> None:
    """smsCount 1 in the seed's custom-id example (ants-http-api-2018.txt 6.2)."""
    assert count_parts(text) == ("GSM7", 1)


def test_not_gsm_names_the_characters() -> None:
    assert not_gsm("It\u2019s \u201cok\u201d \u2019") == ["\u2019", "\u201c", "\u201d"]
    assert not_gsm("plain [text] \u20ac") == []


def test_lookalikes_become_gsm() -> None:
    text = "It\u2019s \u201cgreat\u201d \u2014 see you\u2026\u00a0soon"
    fixed, found = lookalike_fix(text)
    assert fixed == 'It\'s "great" - see you... soon'
    assert found == {"\u2019": 1, "\u201c": 1, "\u201d": 1, "\u2014": 1, "\u2026": 1, "\u00a0": 1}
    assert count_parts(text) == ("UCS2", 1) and count_parts(fixed) == ("GSM7", 1)


@pytest.mark.parametrize(
    "text",
    [
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u201cok\u201d",  # Thai: stays UCS-2 anyway
        "Hi \u2014 " + GRIN,  # an emoji has no GSM-7 form
        "\u041f\u0440\u0438\u0432\u0435\u0442\u2026",  # Cyrillic
        "plain GSM text",
    ],
)
def test_lookalikes_never_touch_text_that_stays_ucs2(text: str) -> None:
    assert lookalike_fix(text) == (text, {})


def test_every_lookalike_maps_into_gsm() -> None:
    for ch, to in LOOKALIKES.items():
        assert not not_gsm(to), (ch, to)
        assert not_gsm(ch) == [ch]
