"""Phone-number normalisation: any national or international form to international digits.

`0812345678` in region TH becomes `66812345678` (the gateway wants digits only,
country code first, no `+`).  Invalid numbers raise `InputError` with a reason.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from dispatcher.errors import InputError

MIN_DIGITS = 7
MAX_DIGITS = 15  # E.164


def normalise(raw: str, region: str) -> str:
    """International digits without '+', or InputError saying why not."""
    text = raw.strip()
    if not text:
        raise InputError("phone number is empty", field="phone")
    try:
        return _parse(text, region)
    except InputError:
        if text.isdigit() and not text.startswith("0"):
            return _parse("+" + text, region)  # international digits without '+'
        raise


@lru_cache(maxsize=4096)
def _parse(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InputError(f"not a phone number: {exc._msg}", field="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InputError(f"invalid number for its country: {text}", field="phone")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
