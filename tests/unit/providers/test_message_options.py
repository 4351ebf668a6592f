"""Which gateway takes which message option (each Profile, from its public documents), and
the refusal that names the gateway and the option it lacks."""

from __future__ import annotations

import pytest

from core.gsm_national import Language
from core.options import TRANSLITERATIONS, SendOptions
from providers import registry

TR_SINGLE = Language("TR", single_shift=True)
ES_LOCKING = Language("ES", locking_shift=True)  # no such table: never taken
PT_BOTH = Language("PT", single_shift=True, locking_shift=True)


@pytest.mark.parametrize(
    ("provider", "options", "refusal"),
    [
        ("ants", SendOptions(flash=True), ""),
        ("ants", SendOptions(transliteration="GREEK"), ""),
        ("ants", SendOptions(language=TR_SINGLE), ""),
        ("ants", SendOptions(language=PT_BOTH), ""),
        ("ants", SendOptions(intermediate_reports=True), ""),
        (
            "ants",
            SendOptions(language=ES_LOCKING),
            "gateway ants does not take national language ES (locking shift)",
        ),
        ("smsc", SendOptions(flash=True), ""),
        ("smsc", SendOptions(transliteration="CYRILLIC"), ""),
        ("smsc", SendOptions(transliteration="TURKISH"), "does not take transliteration TURKISH"),
        (
            "smsc",
            SendOptions(language=TR_SINGLE),
            "gateway smsc does not take national language TR (single shift)",
        ),
        (
            "smsc",
            SendOptions(intermediate_reports=True),
            "gateway smsc does not take intermediate reports",
        ),
        ("smsmanager", SendOptions(flash=True), "gateway smsmanager does not take flash SMS"),
        (
            "smsmanager",
            SendOptions(True, "CYRILLIC", TR_SINGLE, True),
            "gateway smsmanager does not take flash SMS, transliteration CYRILLIC, national "
            "language TR (single shift), intermediate reports",
        ),
        ("smsmanager", SendOptions(), ""),
    ],
)
def test_refusal_names_the_gateway_and_the_option(
    provider: str, options: SendOptions, refusal: str
) -> None:
    got = registry.refusal(provider, options)
    assert (refusal in got and got) if refusal else got == "", got


def test_ants_takes_every_transliteration_table() -> None:
    assert registry.get("ants").profile.transliterations == TRANSLITERATIONS


def test_too_long_counts_by_the_language() -> None:
    """ANTS's 25 parts: 3,800 letters are 25 parts of 153, but 26 of 149 with a shift."""
    profile = registry.get("ants").profile
    text = "a" * 3800
    assert profile.too_long(text) == ""
    assert profile.too_long(text, TR_SINGLE) == "text longer than 25 parts or 4000 bytes"
