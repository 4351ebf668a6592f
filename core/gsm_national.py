"""National language shift tables (3GPP TS 23.038 Annex A) and what they do to a part.

A message may name a national language (`Language`): a *single shift* table replaces the
default extension table (its characters are reached by ESC, so each costs two septets),
a *locking shift* table replaces the default basic table (one septet a character).  A
character of the default basic table that the locking shift table lacks cannot be
written in GSM-7 then.  The tables below are the Annex's, as data, position by position
(`SINGLE_SHIFT`: only the positions that hold a character; `LOCKING_SHIFT`: all 128, ESC
at 0x1B written as a space that `basic` drops).  Spanish has no locking shift table
(A.3.2 is void).

Septets in a part (3GPP TS 23.040 9.2.3.24): a part carries 140 octets of user data.
Each shift table in use is one information element in the user data header: IEI 0x24
(single shift) or 0x25 (locking shift), length 1, the language: 3 octets.  The header
starts with its length (UDHL, 1 octet); a concatenated message adds the 8-bit reference
element (IEI 0x00, length 3: 5 octets).  GSM-7 text starts on the septet boundary after
the header, so a header of H octets leaves floor((140 * 8 - H * 8) / 7) septets:

    shifts  single part                  each part of a concatenated message
    0       0 octets: 1120 / 7 = 160     1 + 5 = 6 octets:  (1120 - 48) / 7 = 153
    1       1 + 3 = 4: (1120 - 32) / 7   1 + 5 + 3 = 9:     (1120 - 72) / 7
              = 155.4 -> 155                = 149.7 -> 149
    2       1 + 6 = 7: (1120 - 56) / 7   1 + 5 + 6 = 12:    (1120 - 96) / 7
              = 152                         = 146.3 -> 146

A UCS-2 text takes no shift table: a language changes nothing for it (70 / 67).  A text the
asked tables cannot write (a default letter a locking shift table lacks, e.g. Turkish `è`)
is UCS-2, never the default alphabet without the shift: the costlier reading.  We count
the shift elements whenever a language is asked and the text is GSM-7 with its tables,
even when no character needs them: the gateway may send the header anyway, and counting
a part too many never lets a limit be passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InputError

DEFAULT_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ"  # 0x00-0x1F (0x1B ESC as a space)
    " !\"#¤%&'()*+,-./0123456789:;<=>?"  # 0x20-0x3F
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"  # 0x40-0x5F
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"  # 0x60-0x7F
)
ESCAPE = 0x1B
UD_OCTETS = 140  # user data of one part
SHIFT_IE_OCTETS = 3  # IEI 0x24 or 0x25, length 1, language
CONCAT_IE_OCTETS = 5  # IEI 0x00, length 3, reference, parts, this part
UDHL_OCTETS = 1

# A.2: the single shift tables, position -> character (the standard's extension characters
# included: each table holds them again)
_EXTENSION_COMMON = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
SINGLE_SHIFT: dict[str, dict[int, str]] = {
    # A.2.1 Turkish National Language Single Shift Table
    "TR": _EXTENSION_COMMON
    | {0x47: "Ğ", 0x49: "İ", 0x53: "Ş", 0x63: "ç", 0x67: "ğ", 0x69: "ı", 0x73: "ş"},
    # A.2.2 Spanish National Language Single Shift Table
    "ES": _EXTENSION_COMMON
    | {
        0x09: "ç",
        0x41: "Á",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x61: "á",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
    },
    # A.2.3 Portuguese National Language Single Shift Table
    "PT": _EXTENSION_COMMON
    | {
        0x05: "ê",
        0x09: "ç",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "Φ",
        0x13: "Γ",
        0x15: "Ω",
        0x16: "Π",
        0x17: "Ψ",
        0x18: "Σ",
        0x19: "Θ",
        0x1F: "Ê",
        0x41: "À",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x5B: "Ã",
        0x5C: "Õ",
        0x61: "Â",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
        0x7B: "ã",
        0x7C: "õ",
        0x7F: "â",
    },
}
# A.3: the locking shift tables, all 128 positions (0x1B ESC as a space)
LOCKING_SHIFT: dict[str, str] = {
    # A.3.1 Turkish National Language Locking Shift Table
    "TR": (
        "@£$¥€éùıòÇ\nĞğ\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ŞşßÉ"
        " !\"#¤%&'()*+,-./0123456789:;<=>?"
        "İABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
        "çabcdefghijklmnopqrstuvwxyzäöñüà"
    ),
    # A.3.3 Portuguese National Language Locking Shift Table
    "PT": (
        "@£$¥êéúíóç\nÔô\rÁáΔ_ªÇÀ∞^\\€Ó| ÂâÊÉ"
        " !\"#º%&'()*+,-./0123456789:;<=>?"
        "ÍABCDEFGHIJKLMNOPQRSTUVWXYZÃÕÚÜ§"
        "~abcdefghijklmnopqrstuvwxyzãõ`üà"
    ),
}
NAMES = {"TR": "Turkish", "ES": "Spanish", "PT": "Portuguese"}
CODES = frozenset(SINGLE_SHIFT)


def basic(table: str) -> frozenset[str]:
    """The characters of a 128-position basic table, without ESC."""
    return frozenset(ch for i, ch in enumerate(table) if i != ESCAPE)


@dataclass(frozen=True, slots=True)
class Language:
    """A national language for a message: its code and which of its tables it uses."""

    code: str
    single_shift: bool = False
    locking_shift: bool = False

    @property
    def shifts(self) -> int:
        return int(self.single_shift) + int(self.locking_shift)

    def __str__(self) -> str:
        used = [
            n for n, on in (("single", self.single_shift), ("locking", self.locking_shift)) if on
        ]
        return f"{self.code} ({' and '.join(used)} shift)"


def language(code: str, single_shift: bool = False, locking_shift: bool = False) -> Language:
    """A checked `Language`; InputError (field language) naming what is wrong otherwise."""
    code = code.strip().upper()
    if code not in CODES:
        known = ", ".join(f"{c} ({NAMES[c]})" for c in sorted(CODES))
        raise InputError(
            f"no national language table for {code!r}; known: {known}", field="language"
        )
    if not (single_shift or locking_shift):
        raise InputError(
            f"language {code} needs a single shift, a locking shift or both", field="language"
        )
    if locking_shift and code not in LOCKING_SHIFT:
        raise InputError(
            f"{NAMES[code]} has no locking shift table (3GPP TS 23.038 A.3): use its single shift",
            field="language",
        )
    return Language(code, single_shift, locking_shift)


@dataclass(frozen=True, slots=True)
class Alphabet:
    """The GSM-7 characters of one choice of tables: one septet (basic) or two (extension),
    and the septets of a single part and of each part of a concatenated message."""

    basic: frozenset[str]
    extension: frozenset[str]
    single: int
    multi: int


def septets(header_octets: int) -> int:
    """Septets of GSM-7 text after a user data header of `header_octets` (0: none)."""
    return (UD_OCTETS * 8 - header_octets * 8) // 7


def alphabet(lang: Language, default_extension: frozenset[str]) -> Alphabet:
    """The tables `lang` uses, and what fits in a part with its shift elements."""
    one_septet = basic(LOCKING_SHIFT[lang.code] if lang.locking_shift else DEFAULT_BASIC)
    if lang.single_shift:
        extension = frozenset(SINGLE_SHIFT[lang.code].values())
    else:
        extension = default_extension
    shift_octets = lang.shifts * SHIFT_IE_OCTETS
    single = septets(UDHL_OCTETS + shift_octets)
    multi = septets(UDHL_OCTETS + CONCAT_IE_OCTETS + shift_octets)
    return Alphabet(one_septet, extension - one_septet, single, multi)
