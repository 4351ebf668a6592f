"""Phone-number normalisation: any national or international form to international digits.

`0812345678` in region TH becomes `66812345678` (the gateway wants digits only,
country code first, no `+`).  Invalid numbers raise `InputError` with a reason.

Speed: `phonenumbers.parse` + `is_valid_number` cost ~70 µs a number, which caps an
import at ~14k rows/s.  Most campaign numbers are plain digits of the default
region, so a fast path checks those against the same phonenumbers metadata
(the region's general pattern and its number-type patterns, as
`is_valid_number` does) with precompiled regexes; anything else takes the full
parse.  A property test checks that both paths agree.

Digits: only ASCII digits take the fast path.  A decimal digit of another script
(full-width `８`, Arabic-Indic `٨`, ...: Unicode category Nd) is read as its ASCII
digit first, so `081234567８` is the same number as `0812345678` (and meets the same
opt-out entry); any other character (superscripts, numerals) takes the full parse,
which refuses what is not a phone number.  Every number returned is ASCII digits.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat

from core.errors import InputError

SEPARATORS = re.compile(r"[\s\-().]")
TYPE_DESCS = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def normalise(raw: str, region: str) -> str:
    """International digits without '+', or InputError saying why not."""
    text = ascii_digits(raw.strip())
    if not text:
        raise InputError("phone number is empty", field="phone")
    fast = _fast(text, region)
    if fast is not None:
        return fast
    try:
        number = _parse(text, region)
    except InputError:
        if text.isascii() and text.isdigit() and not text.startswith("0"):
            number = _parse("+" + text, region)  # international digits without '+'
        else:
            raise
    if not (number.isascii() and number.isdigit()):  # never: phonenumbers writes ASCII
        raise InputError(f"not a phone number in ASCII digits: {raw!r}", field="phone")
    return number


def ascii_digits(text: str) -> str:
    """`text` with every decimal digit of another script (Unicode category Nd) as its ASCII
    digit; anything else unchanged."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text
    )


def _fast(text: str, region: str) -> str | None:
    """The region's own plain-digit forms, validated like is_valid_number; else None.
    Only ASCII digits (str.isdigit alone takes any script's)."""
    if not text.isascii():
        return None
    digits = text if text.isdigit() else SEPARATORS.sub("", text)
    plus = digits.startswith("+")
    digits = digits[1:] if plus else digits
    if not digits.isdigit():
        return None
    cc, prefix, general, types = _metadata(region)
    national_too = not plus and general.fullmatch(digits)  # phonenumbers would read it so
    if digits.startswith(cc) and (plus or not digits.startswith(prefix)) and not national_too:
        nsn = digits[len(cc) :]
    elif not plus and prefix and digits.startswith(prefix):
        nsn = digits[len(prefix) :]
    else:
        return None
    if general.fullmatch(nsn) and types.fullmatch(nsn):
        return cc + nsn
    return None


@lru_cache(maxsize=64)
def _metadata(region: str) -> tuple[str, str, re.Pattern[str], re.Pattern[str]]:
    md = PhoneMetadata.metadata_for_region(region)
    if md is None:
        raise InputError(f"unknown region {region!r}", field="region")
    descs = [getattr(md, n) for n in TYPE_DESCS]
    patterns = [d.national_number_pattern for d in descs if d and d.national_number_pattern]
    types = re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)")
    general_desc = md.general_desc
    if general_desc is None or general_desc.national_number_pattern is None:
        raise InputError(f"no number pattern for region {region!r}", field="region")
    general = re.compile(general_desc.national_number_pattern)
    return str(md.country_code), md.national_prefix or "", general, types


@lru_cache(maxsize=4096)
def _parse(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InputError(f"not a phone number: {exc._msg}", field="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InputError(f"invalid number for its country: {text}", field="phone")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]


_REGION_BY_PREFIX: dict[str, str] = {}
SHARED_CODE_PREFIX = 4  # digits after a shared calling code (+1, +7, +44...) read for a region


def country_of(number: str) -> str:
    """The ISO region of international digits (`66812345678` -> `TH`), "" when unknown.
    A calling code several regions share (+1, +7, +44...) is settled by phonenumbers on the
    number's first digits after it, once per prefix."""
    for n in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(number[:n] or 0))
        if not regions:
            continue
        if len(regions) == 1:
            return str(regions[0])
        prefix = number[: n + SHARED_CODE_PREFIX]
        if prefix not in _REGION_BY_PREFIX:
            try:
                parsed = phonenumbers.parse("+" + number)
                _REGION_BY_PREFIX[prefix] = phonenumbers.region_code_for_number(parsed) or ""
            except NumberParseException:
                _REGION_BY_PREFIX[prefix] = str(regions[0])
        return _REGION_BY_PREFIX[prefix]
    return ""
