"""National language tables (3GPP TS 23.038 Annex A) and parts counted by them.

Vectors worked by hand from the Annex and TS 23.040 (see core.gsm_national): a shift
element costs 3 octets of header, so one shift leaves 155 septets in a single part and 149
in each part of a concatenated message; both shifts 152 and 146.
"""

from __future__ import annotations

import pytest

from core import gsm_national, sms
from core.errors import InputError
from core.gsm_national import Language, language
from core.options import NO_OPTIONS, SendOptions, send_options
from core.sms import Split, count_parts, split

TR_SINGLE = Language("TR", single_shift=True)
TR_LOCKING = Language("TR", locking_shift=True)
TR_BOTH = Language("TR", single_shift=True, locking_shift=True)
ES_SINGLE = Language("ES", single_shift=True)
PT_SINGLE = Language("PT", single_shift=True)
PT_LOCKING = Language("PT", locking_shift=True)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        # Turkish single shift: its letters are ESC + a septet; the header leaves 155
        ("ğ", TR_SINGLE, Split("GSM7", 2, 1, 153)),
        ("ş", TR_SINGLE, Split("GSM7", 2, 1, 153)),
        ("İ", TR_SINGLE, Split("GSM7", 2, 1, 153)),
        ("Ç", TR_SINGLE, Split("GSM7", 1, 1, 154)),  # default table 0x09: one septet
        ("ç", TR_SINGLE, Split("GSM7", 2, 1, 153)),  # the Turkish single shift's 0x63
        ("€", TR_SINGLE, Split("GSM7", 2, 1, 153)),  # the extension characters are kept
        ("a" * 155, TR_SINGLE, Split("GSM7", 155, 1, 0)),
        ("a" * 156, TR_SINGLE, Split("GSM7", 156, 2, 142)),  # 149 a part
        ("a" * 298, TR_SINGLE, Split("GSM7", 298, 2, 0)),
        ("a" * 299, TR_SINGLE, Split("GSM7", 299, 3, 148)),
        ("ğ" * 77 + "a", TR_SINGLE, Split("GSM7", 155, 1, 0)),
        ("ğ" * 78, TR_SINGLE, Split("GSM7", 156, 2, 141)),  # 74 in the first part (148)
        # a two-septet letter never straddles two parts: 148 + 2 > 149 opens the next
        ("a" * 148 + "ğ" + "a" * 148, TR_SINGLE, Split("GSM7", 298, 3, 148)),
        # Turkish locking shift: one septet each, but the default's è is gone
        ("ğ" * 155, TR_LOCKING, Split("GSM7", 155, 1, 0)),
        ("ğ" * 156, TR_LOCKING, Split("GSM7", 156, 2, 142)),
        ("ç" * 10, TR_LOCKING, Split("GSM7", 10, 1, 145)),  # locking 0x60
        ("è", TR_LOCKING, Split("UCS2", 1, 1, 69)),
        ("€", TR_LOCKING, Split("GSM7", 1, 1, 154)),  # locking 0x04 replaces è
        ("{", TR_LOCKING, Split("GSM7", 2, 1, 153)),  # the default extension table stays
        # both shifts: 152 and 146
        ("a" * 152, TR_BOTH, Split("GSM7", 152, 1, 0)),
        ("a" * 153, TR_BOTH, Split("GSM7", 153, 2, 139)),
        ("a" * 292, TR_BOTH, Split("GSM7", 292, 2, 0)),
        ("a" * 293, TR_BOTH, Split("GSM7", 293, 3, 145)),
        ("ğİş" * 10, TR_BOTH, Split("GSM7", 30, 1, 122)),  # all three in the locking table
        # Spanish single shift: á is ESC + 0x61; ñ stays in the default table
        ("á", ES_SINGLE, Split("GSM7", 2, 1, 153)),
        ("ñ", ES_SINGLE, Split("GSM7", 1, 1, 154)),
        ("Señor Ú", ES_SINGLE, Split("GSM7", 8, 1, 147)),
        # Portuguese: ã by its single shift (2) or its locking shift (1)
        ("ã", PT_SINGLE, Split("GSM7", 2, 1, 153)),
        ("ã" * 155, PT_LOCKING, Split("GSM7", 155, 1, 0)),
        ("Ê", PT_SINGLE, Split("GSM7", 2, 1, 153)),
        ("ª", PT_LOCKING, Split("GSM7", 1, 1, 154)),
        # a text that stays UCS-2 takes no shift table: 70 / 67 as ever
        ("ğ" * 70, None, Split("UCS2", 70, 1, 0)),
        ("ğ🙂", TR_SINGLE, Split("UCS2", 3, 1, 67)),
        ("Привет" * 12, TR_SINGLE, Split("UCS2", 72, 2, 62)),
        # no language: the default tables, as before
        ("a" * 160, None, Split("GSM7", 160, 1, 0)),
        ("ç", None, Split("UCS2", 1, 1, 69)),
    ],
)
def test_parts_by_national_table(text: str, lang: Language | None, expected: Split) -> None:
    assert split(text, lang) == expected
    assert count_parts(text, lang) == (expected.encoding, expected.parts)


def test_a_language_counts_its_header_even_when_no_letter_needs_it() -> None:
    """160 plain letters: one part by the default tables, two with a shift element asked
    (the gateway may send the header anyway: never a part too few)."""
    assert count_parts("a" * 160) == ("GSM7", 1)
    assert count_parts("a" * 160, TR_SINGLE) == ("GSM7", 2)


def test_part_sizes_from_the_header_octets() -> None:
    assert gsm_national.septets(0) == sms.GSM7_SINGLE == 160
    assert gsm_national.septets(1 + 5) == sms.GSM7_MULTI == 153
    sizes = {
        lang: (a.single, a.multi)
        for lang in (TR_SINGLE, TR_LOCKING, TR_BOTH)
        for a in [sms.alphabet_of(lang)]
    }
    assert sizes == {TR_SINGLE: (155, 149), TR_LOCKING: (155, 149), TR_BOTH: (152, 146)}


def test_tables_as_the_annex_lays_them_out() -> None:
    assert gsm_national.basic(gsm_national.DEFAULT_BASIC) == sms.GSM7_BASIC
    for code, table in gsm_national.LOCKING_SHIFT.items():
        assert len(table) == 128, code
        assert len(gsm_national.basic(table)) == 127, code  # 127 characters, each once
        assert table[0x20:0x40] == gsm_national.DEFAULT_BASIC[0x20:0x40].replace("¤", table[0x24])
    for code, positions in gsm_national.SINGLE_SHIFT.items():
        assert all(0 <= at < 128 and at != gsm_national.ESCAPE for at in positions), code
        assert set("^{}\\[~]|€\f") <= set(positions.values()), code
    assert gsm_national.SINGLE_SHIFT["TR"][0x47] == "Ğ"
    assert gsm_national.LOCKING_SHIFT["TR"][0x40] == "İ"
    assert gsm_national.LOCKING_SHIFT["PT"][0x60] == "~"


def test_not_gsm_by_a_language() -> None:
    assert sms.not_gsm("Ağaç") == ["ğ", "ç"]
    assert sms.not_gsm("Ağaç", TR_SINGLE) == []
    assert sms.not_gsm("Ağaçè", TR_LOCKING) == ["è"]


@pytest.mark.parametrize(
    ("code", "single", "locking", "problem"),
    [
        ("XX", True, False, "no national language table for 'XX'"),
        ("TR", False, False, "needs a single shift, a locking shift or both"),
        ("ES", False, True, "Spanish has no locking shift table"),
    ],
)
def test_a_bad_language_is_refused_naming_it(
    code: str, single: bool, locking: bool, problem: str
) -> None:
    with pytest.raises(InputError, match=problem) as err:
        language(code, single, locking)
    assert err.value.field == "language"


def test_language_codes_read_in_any_case() -> None:
    assert language(" tr ", single_shift=True) == TR_SINGLE
    assert str(TR_BOTH) == "TR (single and locking shift)"


def test_send_options_travel_in_a_batch_meta() -> None:
    options = send_options(
        flash=True,
        transliteration="turkish",
        language_code="TR",
        single_shift=True,
        intermediate_reports=True,
    )
    assert options == SendOptions(True, "TURKISH", TR_SINGLE, True)
    assert SendOptions.from_meta(options.to_meta()) == options
    assert str(options) == (
        "flash, transliteration TURKISH, language TR (single shift), intermediate reports"
    )
    assert NO_OPTIONS.to_meta() == {} and SendOptions.from_meta({}) == NO_OPTIONS
    assert not NO_OPTIONS and options and str(NO_OPTIONS) == ""


def test_bad_options_are_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="no transliteration 'KLINGON'") as err:
        send_options(transliteration="klingon")
    assert err.value.field == "transliteration"
    with pytest.raises(InputError, match="needs a language code") as err:
        send_options(single_shift=True)
    assert err.value.field == "language"
