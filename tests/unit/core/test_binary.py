"""Binary payloads: hex, the user data header, data coding schemes, and parts (core.binary).

The part counts are worked from TS 23.040: 140 octets in one part, 134 a part when
concatenated (a 6-octet concatenation header), less the payload's own elements; in the
GSM 7-bit alphabet 160 septets, 153 a part.
"""

from __future__ import annotations

import pytest

from core.binary import Binary, BinaryError, check, header_elements, octets_of, parts, unit_of
from sandbox import binary as oracle

OCTETS = Binary(4, 0)
WITH_HEADER = Binary(4, 64)
PORT_HEADER = "060504" + "0b84" + "23f0"  # UDHL 6: application port addressing, 16-bit


def payload(octets: int, fill: str = "ab") -> str:
    return fill * octets


@pytest.mark.parametrize(
    ("octets", "expected"),
    [(1, 1), (140, 1), (141, 2), (268, 2), (269, 3), (134 * 25, 25), (134 * 25 + 1, 26)],
)
def test_eight_bit_parts_are_140_then_134(octets: int, expected: int) -> None:
    assert check(payload(octets), OCTETS).parts == expected


def test_a_header_of_its_own_is_repeated_in_every_part() -> None:
    # 7 header octets + 133 = 140: one part.  Longer: each part carries 6 + 6 header
    # octets (the length octet shared), so 140 - 12 = 128 of the body.
    assert check(PORT_HEADER + payload(133), WITH_HEADER).parts == 1
    assert check(PORT_HEADER + payload(134), WITH_HEADER).parts == 2
    assert check(PORT_HEADER + payload(256), WITH_HEADER).parts == 2
    assert check(PORT_HEADER + payload(257), WITH_HEADER).parts == 3


def test_seven_bit_parts_are_160_then_153_septets() -> None:
    seven = Binary(0, 0)
    assert check(payload(160, "41"), seven).parts == 1
    assert check(payload(161, "41"), seven).parts == 2
    assert check(payload(306, "41"), seven).parts == 2
    assert check(payload(307, "41"), seven).parts == 3
    # a 7-octet header of its own is 8 septets (fill bits): 152 left in one part
    assert parts(152, 7, "septets") == 1
    # concatenated, 12 header octets are 14 septets: 146 a part
    assert parts(153, 7, "septets") == 2
    assert parts(292, 7, "septets") == 2
    assert parts(293, 7, "septets") == 3


def test_ucs2_parts_never_split_a_character() -> None:
    ucs2 = Binary(8, 0)
    assert check(payload(140), ucs2).parts == 1
    assert check(payload(142), ucs2).parts == 2
    assert check(payload(268), ucs2).parts == 2  # 67 characters a part
    # a 3-octet header of its own (UDHL 2, one empty element... of 2 octets): 134 - 2 = 132
    assert parts(266, 3, "ucs2") == 3  # 140 - 6 - 2 = 132 a part: 266 octets, 3 parts
    assert parts(264, 3, "ucs2") == 2
    assert parts(264, 4, "ucs2") == 3  # 140 - 6 - 3 = 131, rounded down to 130
    with pytest.raises(BinaryError, match="two octets a character"):
        check(payload(3), ucs2)


def test_hex_is_checked_and_made_canonical() -> None:
    assert check("0F C2:4a bf", OCTETS).hex == "0fc24abf"
    assert octets_of("00ff") == b"\x00\xff"
    with pytest.raises(BinaryError, match="odd number of hex digits"):
        octets_of("abc")
    with pytest.raises(BinaryError, match="not hex: 'g' at character 3"):
        octets_of("abgd")
    with pytest.raises(BinaryError, match="empty"):
        octets_of("  ")


def test_the_header_length_must_match_its_elements() -> None:
    assert header_elements(bytes.fromhex(PORT_HEADER + "ff")) == [(5, bytes.fromhex("0b8423f0"))]
    with pytest.raises(BinaryError, match="runs past the payload"):
        check("09" + "0504", WITH_HEADER)
    with pytest.raises(BinaryError, match="runs past the header's 3 octets"):
        check("03" + "0504aabb" + "ff", WITH_HEADER)
    with pytest.raises(BinaryError, match="has no length"):
        check("03" + "0000" + "05" + "ff", WITH_HEADER)
    # without UDHI the same octets are just payload
    assert check("09" + "0504", OCTETS).parts == 1


def test_a_payload_split_by_its_author_must_fit_one_part() -> None:
    concatenated = "050003" + "2a0201"
    assert check(concatenated + payload(134), WITH_HEADER).parts == 1
    with pytest.raises(BinaryError, match="already holds a concatenation element"):
        check(concatenated + payload(135), WITH_HEADER)


def test_seven_bit_octets_are_septets() -> None:
    with pytest.raises(BinaryError, match="octet 2 is 80"):
        check("4180", Binary(0, 0))


def test_over_the_gateways_parts_is_refused() -> None:
    assert check(payload(134 * 25), OCTETS, max_parts=25).parts == 25
    with pytest.raises(BinaryError, match="26 parts, over the gateway's 25"):
        check(payload(134 * 25 + 1), OCTETS, max_parts=25)


@pytest.mark.parametrize(
    ("data_coding", "unit"),
    [
        (0, "septets"),
        (4, "octets"),
        (8, "ucs2"),
        (0x24, "octets"),  # compressed
        (0x44, "octets"),  # marked for automatic deletion, 8-bit
        (0xC0, "septets"),
        (0xE0, "ucs2"),
        (0xF0, "septets"),
        (0xF5, "octets"),  # 8-bit data, class 1 (WAP push)
    ],
)
def test_data_coding_schemes(data_coding: int, unit: str) -> None:
    assert unit_of(data_coding) == unit


@pytest.mark.parametrize("data_coding", [0x0C, 0x80, 0xBF, 0xF8, 256, -1])
def test_reserved_or_out_of_range_data_codings_are_refused(data_coding: int) -> None:
    with pytest.raises(BinaryError) as caught:
        Binary(data_coding, 0)
    assert caught.value.field == "data_coding"


def test_esm_class_is_one_octet() -> None:
    assert Binary(4, 64).udhi and not Binary(4, 0).udhi
    with pytest.raises(BinaryError, match="ESM class 256 is not 0-255") as caught:
        Binary(4, 256)
    assert caught.value.field == "esm_class"
    assert Binary.from_meta(Binary(8, 64).to_meta()) == Binary(8, 64)
    assert Binary.from_meta(None) is None


HEADERS = (  # none, then headers of 1, 4, 7 and 12 octets (their length octets included)
    b"",
    b"\x00",
    bytes.fromhex("03050100"),
    bytes.fromhex(PORT_HEADER),
    bytes.fromhex("0b0509") + bytes(9),
)


@pytest.mark.parametrize("data_coding", [0x00, 0x04, 0x08, 0x24, 0xC0, 0xE0, 0xF1, 0xF5])
def test_parts_agree_with_the_sandboxs_own_count(data_coding: int) -> None:
    """Two counts written apart from the same standards (the sandbox is the tests' oracle and
    shares no code) agree on every length up to 5 parts, with and without a header."""
    body = bytes(k % 0x80 for k in range(700))  # septets too: every data coding takes them
    for header in HEADERS:
        esm = 64 if header else 0
        spaced = " ".join(f"{o:02x}" for o in header + body)
        for size in range(1, 700):
            payload = header + body[:size]
            spaced_hex = spaced[: 3 * len(payload) - 1]
            theirs = oracle.read({"hex": spaced_hex, "dataCoding": data_coding, "esmClass": esm})
            try:
                ours = check(payload.hex(), Binary(data_coding, esm))
            except BinaryError as exc:
                assert theirs.refused, (data_coding, header, size, exc.reason)
                continue
            assert (theirs.refused, theirs.parts) == ("", ours.parts), (data_coding, header, size)
