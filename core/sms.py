"""SMS text facts shared by the batcher, the limiter and the sandbox: encoding and parts.

A text that fits the GSM 03.38 alphabet (basic set plus extension table, whose
characters count twice) is sent as GSM-7: 160 characters in one part, 153 per
part when concatenated.  Anything else (Thai, emoji, ...) is UCS-2: 70 in one
part, 67 per part, counted in UTF-16 code units.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["GSM7", "UCS2"]

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def encoding_of(text: str) -> Encoding:
    """GSM7 when every character is in the GSM 03.38 tables, else UCS2."""
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENDED:
            return "UCS2"
    return "GSM7"


def units(text: str, encoding: Encoding) -> int:
    """Length in the encoding's units: septets for GSM7, UTF-16 code units for UCS2."""
    if encoding == "GSM7":
        return len(text) + sum(1 for ch in text if ch in GSM7_EXTENDED)
    return len(text.encode("utf-16-le")) // 2


def count_parts(text: str) -> tuple[Encoding, int]:
    """How many SMS parts the gateway bills for this text, and in which encoding."""
    encoding = encoding_of(text)
    n = units(text, encoding)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "GSM7" else (UCS2_SINGLE, UCS2_MULTI)
    if n <= single:
        return encoding, 1
    return encoding, -(-n // multi)
