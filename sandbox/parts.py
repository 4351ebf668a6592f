"""SMS encoding and part counting, written from GSM 03.38 (3GPP TS 23.038) for the sandbox.

The sandbox is the oracle of the tests, so it counts parts on its own and never
borrows the dispatcher's code.

- GSM-7: every character of the text is in the default alphabet (one septet each)
  or in its extension table (ESC + character: two septets).  One part holds 160
  septets; a concatenated message 153 per part (the user data header takes 7).
- Anything else is UCS-2: UTF-16 code units, 70 in one part, 67 per part when
  concatenated; a character outside the Basic Multilingual Plane (emoji) is a
  surrogate pair, two units.
- A part never splits an escape sequence or a surrogate pair: parts are filled
  greedily and a two-unit character that does not fit in what is left of a part
  starts the next one.  So 152 basic characters, a '€' and 152 more (306 septets)
  take three parts, not two.

A message with a national `language` is counted by its tables and header instead
(`sandbox.national`: 155 / 149 septets with one shift, 152 / 146 with both); a text those
tables cannot write is UCS-2 (the least favourable reading: never the default alphabet
without the shift the message asked for).

ANTS rejects a message of more than MAX_PARTS parts or MAX_BYTES bytes (UTF-8)
with 25 REJECTED_MESSAGE_TOO_LONG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox import national

GSM7 = "GSM7"
UCS2 = "UCS2"
SINGLE = {GSM7: 160, UCS2: 70}  # units in a message of one part
MULTI = {GSM7: 153, UCS2: 67}  # units per part of a concatenated message
MAX_PARTS = 25
MAX_BYTES = 4000

_ESC = "\x1b"  # 0x1B is the escape to the extension table, not a character of the text

# The default alphabet, rows of 16 code points from 0x00 to 0x7F (TS 23.038 section 6.2.1).
_DEFAULT_ROWS = (
    "@£$¥èéùìòÇ\nØø\rÅå",  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ" + _ESC + "ÆæßÉ",  # 0x10-0x1F
    " !\"#¤%&'()*+,-./",  # 0x20-0x2F
    "0123456789:;<=>?",  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO",  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§",  # 0x50-0x5F
    "¿abcdefghijklmno",  # 0x60-0x6F
    "pqrstuvwxyzäöñüà",  # 0x70-0x7F
)
DEFAULT_ALPHABET = frozenset("".join(_DEFAULT_ROWS)) - {_ESC}

# The extension table (TS 23.038 section 6.2.1.1): ESC followed by the code in brackets.
EXTENSION = frozenset(
    {
        "\f",  # 0x0A form feed
        "^",  # 0x14
        "{",  # 0x28
        "}",  # 0x29
        "\\",  # 0x2F
        "[",  # 0x3C
        "~",  # 0x3D
        "]",  # 0x3E
        "|",  # 0x40
        "€",  # 0x65
    }
)

_NOT_GSM = re.compile(
    "[^" + "".join(re.escape(c) for c in sorted(DEFAULT_ALPHABET | EXTENSION)) + "]"
)


@dataclass(frozen=True, slots=True)
class Split:
    """How a text travels: its encoding, its length in units, its parts, and the units
    still free in the last part (what POST /sms/1/preview calls charactersRemaining)."""

    encoding: str
    units: int
    parts: int
    remaining: int


def encoding_of(text: str) -> str:
    """GSM7 when every character is in the default alphabet or its extension, else UCS2."""
    return UCS2 if _NOT_GSM.search(text) else GSM7


def _doubles(text: str, encoding: str) -> int:
    """How many characters of the text cost two units instead of one."""
    if encoding == GSM7:
        return sum(text.count(c) for c in EXTENSION)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 - len(text)


def split(text: str, language: dict | None = None) -> Split:
    """Encoding, units, parts and remaining units of one message text (by the national
    tables of a checked `language` object, when the message has one)."""
    if language is not None:
        t = national.tables(language, DEFAULT_ALPHABET, EXTENSION)
        if all(ch in t.basic or ch in t.extension for ch in text):
            doubles = sum(text.count(c) for c in t.extension)
            return _split(text, GSM7, doubles, (t.single, t.multi), t.extension)
        # not in the tables the message asked for (a letter its locking shift lacks):
        # UCS-2, the least favourable reading (not the default alphabet without the shift)
        doubles = _doubles(text, UCS2)
        return _split(text, UCS2, doubles, (SINGLE[UCS2], MULTI[UCS2]), EXTENSION)
    encoding = encoding_of(text)
    doubles = _doubles(text, encoding)
    return _split(text, encoding, doubles, (SINGLE[encoding], MULTI[encoding]), EXTENSION)


def _split(
    text: str, encoding: str, doubles: int, sizes: tuple[int, int], extension: frozenset[str]
) -> Split:
    units = len(text) + doubles
    single, per_part = sizes
    if units <= single:
        return Split(encoding, units, 1, single - units)
    if doubles == 0:  # nothing can straddle a boundary
        parts = -(-units // per_part)
        return Split(encoding, units, parts, parts * per_part - units)
    parts, used = 1, 0
    for ch in text:
        double = ch in extension if encoding == GSM7 else ord(ch) > 0xFFFF
        cost = 2 if double else 1
        if used + cost > per_part:
            parts, used = parts + 1, cost
        else:
            used += cost
    return Split(encoding, units, parts, per_part - used)


def count_parts(text: str, language: dict | None = None) -> int:
    """The number of SMS parts the text is billed and sent as."""
    return split(text, language).parts


def too_long(text: str, parts: int | None = None) -> bool:
    """More than MAX_PARTS parts or MAX_BYTES bytes: 25 REJECTED_MESSAGE_TOO_LONG."""
    if parts is None:
        parts = count_parts(text)
    return parts > MAX_PARTS or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES
