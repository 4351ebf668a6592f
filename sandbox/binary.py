"""Binary messages (`POST /sms/1/binary/advanced`), written for the sandbox from the 2018 ANTS
document and 3GPP TS 23.038 / 23.040 (the sandbox is the tests' oracle: it never borrows the
dispatcher's code).

The document's binary request is the advanced request with `binary` {hex, dataCoding,
esmClass} in each message where a text message has `text`.  Where it is brief, the
sandbox takes the least favourable reading:

- `hex`: "two hex digits make one byte, and it should be sent with spaces (Example: "0f c2
  4a bf 34 13 ba")", and every example writes it so.  The sandbox takes that form only:
  pairs of hex digits (either case: the examples use both) separated by one space, nothing
  before or after; compact hex, other separators, an odd digit or an empty payload: 400.
- `dataCoding` and `esmClass`: integers, both required (the document calls 0 their
  default; a gateway may still want them).  `dataCoding` must be a data coding scheme of
  TS 23.038, which the document links, that is not reserved (coding groups 1000-1011; the
  alphabet 11 of groups 00xx and 01xx; bit 3 of group 1111); `esmClass` one octet, 0-255.
  Otherwise 400.
- A message has `binary` and no `text` (both, or neither: 400).
- With `esmClass` bit 6 (64, UDHI) the payload begins with a user data header: its first
  octet is the header's length and its elements (identifier, length, data) fill exactly
  that many octets, inside the payload.  Otherwise every destination of the message is
  refused with 24 REJECTED_INVALID_UDH ("an inaccurate amount of characters when using
  esmclass:64").  With a GSM 7-bit data coding every octet after the header must be a
  septet (00-7F), and with UCS-2 the octets after it whole characters (an even number):
  24 as well.
- Parts (TS 23.040 9.2.3.16, 9.2.3.24, 9.2.3.24.1): 140 octets in one part; longer, each
  part carries a 6-octet concatenation header (length octet, identifier 00, length 3,
  reference, count, number) and the payload's own header elements again: 134 octets less
  those.  GSM 7-bit: 160 septets, a header of H octets taking ceil(8H / 7) of them; UCS-2:
  an even number of octets a part.  More than 25 parts or 4,000 octets: 25
  REJECTED_MESSAGE_TOO_LONG (the document's limit for every message).

Every accepted destination's payload is kept as it arrived, octet by octet (lower-case
compact hex, `state.payloads[messageId]`), for `GET /_sandbox/state?payloads=1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.parts import MAX_BYTES, MAX_PARTS
from sandbox.validation import BadRequest

PART = 140
SEPTETS = 160
CONCAT = 6
UDHI = 64
_SPACED_HEX = re.compile(r"[0-9a-fA-F]{2}( [0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class Payload:
    """A message's payload as the sandbox reads it: its octets, parts, and why its
    destinations are refused ("" when they are not)."""

    octets: bytes
    parts: int
    refused: str  # a REJECTED status name, or ""


def check_binary(message: dict, where: str) -> None:
    """The `binary` object of one message (400 for what the module docstring lists)."""
    if "text" in message:
        raise BadRequest(f"{where}text", "a binary message has no text")
    binary = message.get("binary")
    if not isinstance(binary, dict):
        raise BadRequest(f"{where}binary", "must be an object")
    hex_ = binary.get("hex")
    if type(hex_) is not str or not _SPACED_HEX.fullmatch(hex_):
        raise BadRequest(f"{where}binary.hex", 'must be hex octets separated by spaces: "0f c2"')
    for key in ("dataCoding", "esmClass"):
        value = binary.get(key)
        if type(value) is not int or not 0 <= value <= 255:
            raise BadRequest(f"{where}binary.{key}", "must be an integer from 0 to 255")
    if alphabet(binary["dataCoding"]) is None:
        raise BadRequest(f"{where}binary.dataCoding", "is reserved in TS 23.038")


def alphabet(data_coding: int) -> str | None:
    """ "7bit", "8bit" or "ucs2" for a TS 23.038 data coding scheme; None when reserved."""
    group = data_coding >> 4
    if group < 8:
        if data_coding & 0x20:
            return "8bit"  # compressed: counted in octets
        return ("7bit", "8bit", "ucs2", None)[(data_coding >> 2) & 3]
    if group < 12:
        return None
    if group < 14:
        return "7bit"
    if group == 14:
        return "ucs2"
    if data_coding & 0x08:
        return None
    return "8bit" if data_coding & 0x04 else "7bit"


def read(binary: dict[str, Any]) -> Payload:
    """A checked `binary` object's payload, parts and verdict."""
    octets = bytes.fromhex(binary["hex"])
    header = 0
    if binary["esmClass"] & UDHI:
        header = _header(octets)
        if header < 0:
            return Payload(octets, 1, "REJECTED_INVALID_UDH")
    kind = alphabet(binary["dataCoding"])
    body = octets[header:]
    if (kind == "7bit" and any(o > 0x7F for o in body)) or (kind == "ucs2" and len(body) % 2):
        return Payload(octets, 1, "REJECTED_INVALID_UDH")
    parts = _parts(len(body), header, kind)
    if not parts or parts > MAX_PARTS or len(octets) > MAX_BYTES:
        return Payload(octets, max(parts, 1), "REJECTED_MESSAGE_TOO_LONG")
    return Payload(octets, parts, "")


def _header(octets: bytes) -> int:
    """The header's whole length (its length octet included), or -1 when it is malformed."""
    end = 1 + octets[0]
    if end > len(octets):
        return -1
    at = 1
    while at < end:
        if at + 2 > end or at + 2 + octets[at + 1] > end:
            return -1
        at += 2 + octets[at + 1]
    return end


def _parts(body: int, header: int, kind: str | None) -> int:
    own = max(header - 1, 0)  # the payload's own elements, repeated in every part
    if kind == "7bit":
        if body + -(-8 * header // 7) <= SEPTETS:
            return 1
        per_part = SEPTETS - -(-8 * (CONCAT + own) // 7)
    else:
        if header + body <= PART:
            return 1
        per_part = PART - CONCAT - own
        if kind == "ucs2":
            per_part -= per_part % 2
    return -(-body // per_part) if per_part > 0 else 0
