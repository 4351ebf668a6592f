"""SMS text facts shared by the batcher, the limiter and the plan: encoding, parts, look-alikes.

GSM 03.38 (3GPP TS 23.038):
- A text whose every character is in the default alphabet (one septet) or in its
  extension table (ESC + character: two septets) travels as GSM-7: 160 septets in one
  part, 153 a part when concatenated (the user data header takes the rest).
- Anything else (Thai, Cyrillic, emoji...) is UCS-2, counted in UTF-16 code units:
  70 in one part, 67 a part concatenated.  A character beyond the Basic Multilingual
  Plane (most emoji) is a surrogate pair: two units.
- A concatenated part never ends between the two septets of an escape sequence or the
  two units of a surrogate pair: such a character that does not fit in what is left of
  a part opens the next one.  So 152 letters, '€' and 152 letters (306 septets) are
  three parts, not two.

With a national language (`core.gsm_national.Language`: `--language` with a single and/or
locking shift), its tables replace the default ones and the shift elements of the user
data header leave fewer septets a part (155 / 149 with one shift, 152 / 146 with both:
the derivation is in `core.gsm_national`).

`lookalike_fix` is `--gsm-safe`: typographic look-alikes (curly quotes, dashes, the
ellipsis, unusual spaces...) become their GSM-7 equivalents, only when that makes the
whole text GSM-7; a text that stays UCS-2 (Thai, emoji...) is left exactly as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from core import gsm_national
from core.gsm_national import Alphabet, Language

Encoding = Literal["GSM7", "UCS2"]

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
_LIMITS: dict[str, tuple[int, int]] = {
    "GSM7": (GSM7_SINGLE, GSM7_MULTI),
    "UCS2": (UCS2_SINGLE, UCS2_MULTI),
}

GSM7_BASIC = gsm_national.basic(gsm_national.DEFAULT_BASIC)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
_GSM7 = GSM7_BASIC | GSM7_EXTENDED
DEFAULT_ALPHABET = Alphabet(GSM7_BASIC, GSM7_EXTENDED, GSM7_SINGLE, GSM7_MULTI)

# --gsm-safe: each look-alike and what it becomes ("" drops an invisible character).
LOOKALIKES: dict[str, str] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",  # ‘ ’ ‚ ‛ ′
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',  # “ ” „ ‟ ″
    "\u00ab": '"',
    "\u00bb": '"',  # « »
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",  # ‐ ‑ ‒ – —
    "\u2015": "-",
    "\u2212": "-",  # ― −
    "\u2026": "...",  # …
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2007": " ",
    "\u2009": " ",  # spaces
    "\u200a": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\t": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u00ad": "",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u2022": "-",  # ˆ ˜ •
}


@dataclass(frozen=True, slots=True)
class Split:
    """How a text travels: encoding, length in units, parts, and the units still free in
    the last part (what a gateway's preview calls the characters remaining)."""

    encoding: Encoding
    units: int
    parts: int
    remaining: int


@lru_cache(maxsize=16)
def alphabet_of(language: Language | None) -> Alphabet:
    """The GSM-7 tables and part sizes a message uses: the default ones, or a language's."""
    return DEFAULT_ALPHABET if language is None else gsm_national.alphabet(language, GSM7_EXTENDED)


def encoding_of(text: str, language: Language | None = None) -> Encoding:
    """GSM7 when every character is in the GSM 03.38 tables (a language's, when given),
    else UCS2."""
    a = alphabet_of(language)
    return "GSM7" if (a.basic | a.extension).issuperset(text) else "UCS2"


def _cost(ch: str, encoding: Encoding, extension: frozenset[str]) -> int:
    """Units of one character: 2 for an escape sequence or a surrogate pair, else 1."""
    if encoding == "GSM7":
        return 2 if ch in extension else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units(text: str, encoding: Encoding, language: Language | None = None) -> int:
    """Length in the encoding's units: septets for GSM7, UTF-16 code units for UCS2."""
    if encoding == "GSM7":
        extension = alphabet_of(language).extension
        return len(text) + sum(text.count(ch) for ch in extension)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split(text: str, language: Language | None = None) -> Split:
    """Encoding, units, parts and the free units of the last part of one message text
    (counted by a national language's tables and header when `language` is given)."""
    a = alphabet_of(language)
    if a.basic.issuperset(text):  # the common case: one septet a character
        encoding: Encoding = "GSM7"
        n = len(text)
    else:
        encoding = encoding_of(text, language)
        n = units(text, encoding, language)
    single, multi = (a.single, a.multi) if encoding == "GSM7" else _LIMITS[encoding]
    if n <= single:
        return Split(encoding, n, 1, single - n)
    if n == len(text):  # every character costs one unit: none can straddle a boundary
        parts = -(-n // multi)
        return Split(encoding, n, parts, parts * multi - n)
    parts, used = 1, 0
    for ch in text:
        cost = _cost(ch, encoding, a.extension)
        if used + cost > multi:
            parts, used = parts + 1, 0
        used += cost
    return Split(encoding, n, parts, multi - used)


def count_parts(text: str, language: Language | None = None) -> tuple[Encoding, int]:
    """How many SMS parts the gateway bills for this text, and in which encoding (by a
    national language's tables when `language` is given)."""
    s = split(text, language)
    return s.encoding, s.parts


def not_gsm(text: str, language: Language | None = None) -> list[str]:
    """The characters of `text` outside GSM 03.38 (a language's tables, when given), each
    once, in order of appearance."""
    a = alphabet_of(language)
    return list(dict.fromkeys(ch for ch in text if ch not in a.basic and ch not in a.extension))


def lookalike_fix(text: str) -> tuple[str, dict[str, int]]:
    """`text` with look-alikes replaced, and how many of each were, when that makes it
    GSM-7; else `text` untouched and no replacements (it goes as UCS-2 either way)."""
    if _GSM7.issuperset(text):
        return text, {}
    found: dict[str, int] = {}
    for ch in text:
        if ch in LOOKALIKES:
            found[ch] = found.get(ch, 0) + 1
        elif ch not in _GSM7:
            return text, {}  # Thai, emoji...: no replacement would make it GSM-7
    return "".join(LOOKALIKES.get(ch, ch) for ch in text), found
