"""National language shift tables for the sandbox's part count (3GPP TS 23.038 Annex A),
written for the sandbox from the Annex: it never borrows the dispatcher's tables.

A message's `language` {languageCode, singleShift, lockingShift} chooses them: a single
shift table takes the extension table's place (ESC + character: two septets), a locking
shift table the default alphabet's (one septet).  Each shift in use is an information
element of 3 octets (IEI 0x24 or 0x25, length 1, the language) in the user data header,
whose length octet (UDHL) comes first; a concatenated message adds the 5-octet
concatenation element (TS 23.040 9.2.3.24).  140 octets of user data then leave
floor((140 - header) * 8 / 7) septets for the text: `capacity`.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_DATA_OCTETS = 140
SHIFT_ELEMENT_OCTETS = 3
CONCATENATION_ELEMENT_OCTETS = 5
HEADER_LENGTH_OCTET = 1

_ESC = "\x1b"

# Rows of 16 code points from 0x00 to 0x7F (A.3.1 and A.3.3; A.3.2, Spanish, is void).
_LOCKING_ROWS = {
    "TR": (
        "@£$¥€éùıòÇ\nĞğ\rÅå",
        "Δ_ΦΓΛΩΠΨΣΘΞ" + _ESC + "ŞşßÉ",
        " !\"#¤%&'()*+,-./",
        "0123456789:;<=>?",
        "İABCDEFGHIJKLMNO",
        "PQRSTUVWXYZÄÖÑÜ§",
        "çabcdefghijklmno",
        "pqrstuvwxyzäöñüà",
    ),
    "PT": (
        "@£$¥êéúíóç\nÔô\rÁá",
        "Δ_ªÇÀ∞^\\€Ó|" + _ESC + "ÂâÊÉ",
        " !\"#º%&'()*+,-./",
        "0123456789:;<=>?",
        "ÍABCDEFGHIJKLMNO",
        "PQRSTUVWXYZÃÕÚÜ§",
        "~abcdefghijklmno",
        "pqrstuvwxyzãõ`üà",
    ),
}
LOCKING = {code: frozenset("".join(rows)) - {_ESC} for code, rows in _LOCKING_ROWS.items()}

# A.2.1-A.2.3: the characters each single shift table holds (the default extension's
# form feed ^ { } \ [ ~ ] | € among them)
_COMMON = "\f^{}\\[~]|€"
SINGLE = {
    "TR": frozenset(_COMMON + "ĞİŞçğış"),
    "ES": frozenset(_COMMON + "çÁÍÓÚáíóú"),
    "PT": frozenset(_COMMON + "êçÔôÁáΦΓΩΠΨΣΘÊÀÍÓÚÃÕÂíóúãõâ"),
}


@dataclass(frozen=True, slots=True)
class Tables:
    """The septet tables of one message: one septet, two septets, and what fits."""

    basic: frozenset[str]
    extension: frozenset[str]
    single: int  # septets in a message of one part
    multi: int  # septets per part of a concatenated message


def capacity(header_octets: int) -> int:
    return (USER_DATA_OCTETS - header_octets) * 8 // 7


def tables(language: dict, basic: frozenset[str], extension: frozenset[str]) -> Tables:
    """The tables a checked `language` object chooses over the default ones."""
    code, single, locking = (
        language["languageCode"],
        language["singleShift"],
        language["lockingShift"],
    )
    if locking:
        basic = LOCKING[code]
    if single:
        extension = SINGLE[code]
    shifts = int(single) + int(locking)
    if not shifts:
        return Tables(basic, extension - basic, 160, 153)
    header = HEADER_LENGTH_OCTET + shifts * SHIFT_ELEMENT_OCTETS
    return Tables(
        basic,
        extension - basic,
        capacity(header),
        capacity(header + CONCATENATION_ELEMENT_OCTETS),
    )
