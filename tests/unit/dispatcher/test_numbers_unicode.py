"""Phone numbers written with digits other than ASCII ones (issue 20): only ASCII digits take
the fast path; others are read as the same number as their ASCII form (phonenumbers
normalises full-width, Arabic-Indic and other decimal digits), so the opt-out list matches
them, or are refused with a reason.  Whatever comes out is ASCII digits."""

from __future__ import annotations

import io

import pytest
import redis

from core import optout
from core.errors import InputError
from dispatcher import numbers
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource
from providers.ants import PROFILE as ANTS

FULL_WIDTH_LAST = "081234567\uff18"  # the last digit is a full-width 8


@pytest.mark.parametrize(
    "raw",
    [
        FULL_WIDTH_LAST,
        "08\uff112345678",  # a full-width 1 inside
        "\uff10\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # all full-width
        "\u0660\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic
        "+\uff16\uff16812345678",  # international, full-width country code
        "\uff16\uff16812345678",  # international without '+'
        "081-234-567\uff18",  # with separators
    ],
)
def test_other_digits_are_the_same_number_as_ascii_ones(raw: str) -> None:
    assert numbers.normalise(raw, "TH") == "66812345678"


@pytest.mark.parametrize("raw", ["0812345678\u00b2", "081234567\u2168"])  # superscript 2, Ⅸ
def test_what_is_not_a_decimal_digit_is_refused(raw: str) -> None:
    with pytest.raises(InputError):
        numbers.normalise(raw, "TH")


def test_the_fast_path_takes_only_ascii_digits() -> None:
    assert numbers._fast("0812345678", "TH") == "66812345678"
    assert numbers._fast(FULL_WIDTH_LAST, "TH") is None
    assert numbers._fast("+\uff16\uff16812345678", "TH") is None


def test_an_opted_out_number_in_full_width_digits_is_not_imported(store: redis.Redis) -> None:
    optout.add(store, optout.entries_for(["66812345678"], optout.MANUAL, "asked"))
    sent: list[dict] = []
    spec = CampaignSpec("uni", "Shop", "Hi", "TH", 10, 60, profile=ANTS)
    out = io.StringIO()
    csv = f"phone\n{FULL_WIDTH_LAST}\n0812345679\n"
    report = Importer(store, sent.append, spec, SafeCsvWriter(out)).run(
        CsvSource(io.StringIO(csv), name="c.csv")
    )
    assert (report.valid, report.opted_out) == (1, 1)  # valid: not opted out
    assert [d[1] for b in sent for d in b["d"]] == ["66812345679"]
    assert "on the opt-out list" in out.getvalue()
