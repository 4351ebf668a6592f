"""Binary SMS payloads: their hex, their user data header, and their parts as GSM 03.40 counts them.

A binary message is a payload of octets (written in hex) with a data coding and an ESM
class, sent as it is: the gateway puts it in the TP-User-Data of each part.  The rules,
and where they come from:

- Octets per part (3GPP TS 23.040 (GSM 03.40) 9.2.3.16 TP-UDL, 9.2.3.24 TP-UD): the user
  data of one part is at most 140 octets (`PART_OCTETS`).
- The user data header (TS 23.040 9.2.3.23 TP-UDHI, 9.2.3.24): with TP-UDHI set, the user
  data begins with the header: its length octet (UDHL), then information elements of an
  identifier octet, a length octet and that many octets, which fill exactly UDHL octets.
  SMPP 3.4 5.2.12 carries TP-UDHI as bit 6 of `esm_class` (`UDHI` = 0x40): an ESM class
  of 64 says the payload begins with a header (the gateways' binary APIs take it so).
- Concatenation (TS 23.040 9.2.3.24.1): a payload longer than one part travels in parts
  that each carry a concatenation element (identifier 00, length 3: a reference, the number
  of parts, this part's number), 5 octets, in a header of their own: 1 + 5 = 6 octets
  (`CONCAT_HEADER`), so a part carries 140 - 6 = 134 octets of payload.  A payload with a
  header of its own repeats its elements in every part (TS 23.040 9.2.3.24: elements such
  as application port addressing are present in each part), beside the concatenation
  element under the one shared length octet: L octets of elements leave 134 - L.  A
  payload whose header already holds a concatenation element (00, or 08 with a 16-bit
  reference) was split by its author: it must fit in one part.
- Units (TS 23.038 section 4, the data coding scheme; TS 23.040 9.2.3.16): with the GSM
  7-bit default alphabet the payload is one septet per octet of the hex (00-7F; the
  service centre packs them) and a part holds 160 septets; a header of H octets takes
  ceil(H * 8 / 7) septets (fill bits up to a septet boundary), so 153 per concatenated
  part without a header of the payload's own.  8-bit data counts octets.  UCS-2 counts
  octets, two per character: the payload after its header is whole characters, and a
  part carries an even number of octets, so no character is split between two parts.
  Compressed user data (bit 5 of groups 00xx and 01xx) is counted in octets.
- The data coding scheme (TS 23.038 section 4, which the gateways' binary APIs cite;
  SMPP's data_coding agrees on 0, 4 and 8): coding groups 00xx and 01xx name the alphabet
  in bits 3-2 (00 GSM 7-bit, 01 8-bit data, 10 UCS-2, 11 reserved); 1000-1011 are
  reserved; 1100 and 1101 (message waiting) are GSM 7-bit, 1110 UCS-2; 1111 is GSM 7-bit
  or, with bit 2, 8-bit data (its bit 3 is reserved).  A reserved value is refused.
  `DEFAULT_DATA_CODING` is 4: group 0000, 8-bit data.

`Binary` is a campaign's options (`--data-coding`, `--esm-class`); `check` says why a
payload cannot be sent (or gives its canonical hex and parts); `parts` counts them.
A batch of binary messages carries `Binary.to_meta()` in `Batch.meta[BINARY_KEY]` and
each payload's canonical hex where a text batch carries its text (`core.batch`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from core.sms import GSM7_SINGLE

Unit = Literal["septets", "octets", "ucs2"]

PART_OCTETS = 140  # user data of one part (TS 23.040 9.2.3.16)
PART_SEPTETS = GSM7_SINGLE  # ... in the GSM 7-bit default alphabet: 160 septets
CONCAT_ELEMENT = 5  # identifier 00, length 3, reference, parts, part number
CONCAT_HEADER = 1 + CONCAT_ELEMENT  # with the header's length octet: 6
CONCAT_IDS = frozenset({0x00, 0x08})  # concatenation, 8-bit and 16-bit reference
UDHI = 0x40  # esm_class bit 6: the payload begins with a user data header
DEFAULT_DATA_CODING = 4  # 8-bit data, no message class
DEFAULT_ESM_CLASS = 0
MAX_OCTET = 0xFF  # data coding and ESM class are one octet each
_HEX = re.compile(r"[0-9a-fA-F]*")
_SEPARATORS = re.compile(r"[\s:]+")


class BinaryError(ValueError):
    """Why a payload or its options cannot be sent; `field` names the option at fault."""

    def __init__(self, reason: str, field: str = "binary") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def unit_of(data_coding: int) -> Unit:
    """How the data coding scheme counts a payload (the module docstring); BinaryError
    for a value out of range or reserved by TS 23.038."""
    if not 0 <= data_coding <= MAX_OCTET:
        raise BinaryError(f"data coding {data_coding} is not 0-255", "data_coding")
    group = data_coding >> 4
    reserved = f"data coding {data_coding} (0x{data_coding:02X}) is reserved in TS 23.038"
    if group <= 0b0111:  # general data coding, maybe marked for automatic deletion
        if data_coding & 0x20:
            return "octets"  # compressed
        alphabet = (data_coding >> 2) & 0b11
        if alphabet == 0b11:
            raise BinaryError(reserved, "data_coding")
        return ("septets", "octets", "ucs2")[alphabet]
    if group <= 0b1011:
        raise BinaryError(reserved, "data_coding")
    if group in (0b1100, 0b1101):
        return "septets"
    if group == 0b1110:
        return "ucs2"
    if data_coding & 0x08:
        raise BinaryError(reserved, "data_coding")
    return "octets" if data_coding & 0x04 else "septets"


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary campaign's options: the data coding scheme and the ESM class of its payloads."""

    data_coding: int = DEFAULT_DATA_CODING
    esm_class: int = DEFAULT_ESM_CLASS

    def __post_init__(self) -> None:
        for name, value in (("data_coding", self.data_coding), ("esm_class", self.esm_class)):
            if type(value) is not int:
                raise BinaryError(f"{name.replace('_', ' ')} must be an integer", name)
        if not 0 <= self.esm_class <= MAX_OCTET:
            raise BinaryError(f"ESM class {self.esm_class} is not 0-255", "esm_class")
        unit_of(self.data_coding)

    def __str__(self) -> str:
        return f"data coding {self.data_coding}, ESM class {self.esm_class}"

    @property
    def udhi(self) -> bool:
        return bool(self.esm_class & UDHI)

    def to_meta(self) -> dict[str, int]:
        return {"data_coding": self.data_coding, "esm_class": self.esm_class}

    @classmethod
    def from_meta(cls, raw: Any) -> Binary | None:
        """The options a batch's meta carries (`BINARY_KEY`), None for a text batch."""
        if not isinstance(raw, dict):
            return None
        return cls(int(raw["data_coding"]), int(raw["esm_class"]))


@dataclass(frozen=True, slots=True)
class Sendable:
    """A payload that can be sent: its canonical hex (lower case, no separators) and parts."""

    hex: str
    octets: int
    parts: int


def octets_of(hex_text: str) -> bytes:
    """The payload's octets: two hex digits an octet, either case; spaces and colons are
    dropped ("0F C2:4a" is 0fc24a)."""
    compact = _SEPARATORS.sub("", hex_text)
    if not compact:
        raise BinaryError("the payload is empty")
    if not _HEX.fullmatch(compact):
        bad = next(ch for ch in compact if not _HEX.fullmatch(ch))
        raise BinaryError(f"not hex: {bad!r} at character {compact.index(bad) + 1}")
    if len(compact) % 2:
        raise BinaryError(f"odd number of hex digits ({len(compact)}): two make one octet")
    return bytes.fromhex(compact)


def header_elements(payload: bytes) -> list[tuple[int, bytes]]:
    """The information elements of the payload's user data header (esm_class with UDHI):
    BinaryError when its length octet and its elements do not fit the payload."""
    length = payload[0]
    if 1 + length > len(payload):
        raise BinaryError(
            f"user data header length {length} (first octet) runs past the payload "
            f"({len(payload) - 1} octets after it)"
        )
    elements, at, end = [], 1, 1 + length
    while at < end:
        if at + 2 > end:
            raise BinaryError(f"user data header: element at octet {at + 1} has no length")
        ident, size = payload[at], payload[at + 1]
        if at + 2 + size > end:
            raise BinaryError(
                f"user data header: element {ident:02X} at octet {at + 1} ({size} octets) "
                f"runs past the header's {length} octets"
            )
        elements.append((ident, payload[at + 2 : at + 2 + size]))
        at += 2 + size
    return elements


def _septets(octets: int) -> int:
    return -(-octets * 8 // 7)


def parts(body: int, header: int, unit: Unit) -> int:
    """Parts of a payload of `body` units after a header of `header` octets (0: none; its
    length octet included), counted as the module docstring says."""
    if unit == "septets":
        single = PART_SEPTETS - _septets(header) if header else PART_SEPTETS
        if body <= single:
            return 1
        elements = max(header - 1, 0)
        per_part = PART_SEPTETS - _septets(CONCAT_HEADER + elements)
    else:
        if header + body <= PART_OCTETS:
            return 1
        elements = max(header - 1, 0)
        per_part = PART_OCTETS - CONCAT_HEADER - elements
        if unit == "ucs2":
            per_part -= per_part % 2
    if per_part <= 0:
        return 0  # never fits: the caller refuses it
    return -(-body // per_part)


def check(hex_text: str, options: Binary, max_parts: int = 0) -> Sendable:
    """The payload checked against its options (and `max_parts`, a gateway's cap, when
    given); BinaryError saying why it cannot be sent."""
    payload = octets_of(hex_text)
    header = 0
    elements: list[tuple[int, bytes]] = []
    if options.udhi:
        elements = header_elements(payload)
        header = 1 + payload[0]
    unit = unit_of(options.data_coding)
    body = payload[header:]
    if unit == "septets" and (high := next((o for o in body if o > 0x7F), None)) is not None:
        at = header + body.index(high) + 1
        raise BinaryError(
            f"data coding {options.data_coding} is the GSM 7-bit alphabet, one septet per "
            f"octet (00-7F): octet {at} is {high:02X}"
        )
    if unit == "ucs2" and len(body) % 2:
        raise BinaryError(
            f"data coding {options.data_coding} is UCS-2, two octets a character: "
            f"the payload after its header has {len(body)}"
        )
    count = parts(len(body), header, unit)
    split_before = any(ident in CONCAT_IDS for ident, _ in elements)
    if count == 0 or (split_before and count > 1):
        why = "already holds a concatenation element" if split_before else "leaves no room"
        raise BinaryError(f"the payload's user data header {why}: it must fit in one part")
    if max_parts and count > max_parts:
        raise BinaryError(f"{count} parts, over the gateway's {max_parts}")
    return Sendable(payload.hex(), len(payload), count)
