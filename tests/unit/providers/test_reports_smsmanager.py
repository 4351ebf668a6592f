"""SmsManager delivery receipts: states 0-8, in every accepted shape, and bad receipts.

A bad receipt in a list (JSON array, XML root of receipts) is rejected on its own; a bad
single receipt or an unreadable body raises ReportParseError.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.reports import DeliveryReport, ReportParseError
from providers.smsmanager.reports import RECEIPT_STATES, parse_receipt

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# state -> (normalized state, final), finality exactly as in the document's table
EXPECTED = {
    0: ("accepted", False),
    1: ("pending", False),
    2: ("delivered", True),
    3: ("undeliverable", True),
    4: ("pending", False),
    5: ("pending", False),
    6: ("expired", True),
    7: ("rejected", True),
    8: ("undeliverable", True),
}


def test_table_matches_the_document() -> None:
    assert {k: (v[1], v[2]) for k, v in RECEIPT_STATES.items()} == EXPECTED


def test_all_states_from_a_json_array() -> None:
    reports = parse_receipt(body("smsmanager_receipts.json"), "application/json")
    assert [(r.message_id, r.status_code) for r in reports] == [(f"r{i}", str(i)) for i in range(9)]
    assert {int(r.status_code): (r.state, r.final) for r in reports} == EXPECTED
    assert all((r.provider, r.format) == ("smsmanager", "smsmanager") for r in reports)


def test_form_encoded_receipt() -> None:
    (report,) = parse_receipt(body("smsmanager_receipt.txt"), "application/x-www-form-urlencoded")
    assert report == DeliveryReport(
        message_id="12345",
        state="delivered",
        final=True,
        to="420777123456",
        status_code="2",
        status_name="DELIVERED",
        group="DELIVERED",
        done_at="2024-01-31T10:00:00",
        provider="smsmanager",
        format="smsmanager",
    )


def test_json_object_receipt_with_alias_names() -> None:
    (report,) = parse_receipt(body("smsmanager_receipt.json"))
    assert (report.message_id, report.state, report.final, report.to) == (
        "12346",
        "expired",
        True,
        "420777123457",
    )


def test_xml_receipts_with_attributes_or_elements() -> None:
    reports = parse_receipt(body("smsmanager_receipts.xml"), "text/xml")
    assert [(r.message_id, r.state, r.final, r.to) for r in reports] == [
        ("500", "delivered", True, "420777000001"),
        ("501", "rejected", True, "420777000002"),
        ("502", "pending", False, "420777000003"),
    ]


def test_single_xml_element_and_mapping() -> None:
    (xml,) = parse_receipt('<Receipt ID="9" Status="3"/>')
    (mapping,) = parse_receipt({"MessageID": "9", "State": "3"})
    assert (
        (xml.message_id, xml.state) == (mapping.message_id, mapping.state) == ("9", "undeliverable")
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (body("smsmanager_unknown_state.json"), "unknown receipt state 9"),
        (body("smsmanager_wrong_type.json"), "string or integer"),
        (body("smsmanager_xxe.xml"), "DTD"),
        (b"id=1", "status: missing"),
        (b"status=2", "message id"),
        (b"id=1&status=two", "expected 0-8"),
        (b"garbage without pairs", "form"),
        (b"<Receipts/>", "no receipt"),
        (b"", "empty"),
    ],
)
def test_bad_receipts(raw: bytes, match: str) -> None:
    with pytest.raises(ReportParseError, match=match) as info:
        parse_receipt(raw)
    assert "root:" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "field", "match"),
    [
        (b'[{"id": "1", "status": 2}, "x"]', "[1]", "expected an object"),
        (b'[{"id": "1", "status": 2}, {"id": "2"}]', "[1].status", "missing"),
        (b'[{"id": "1", "status": 2}, {"id": "2", "status": 9}]', "[1].status", "state 9"),
        (
            b'<Receipts><Receipt ID="1" Status="2"/><Receipt><ID><x/></ID></Receipt></Receipts>',
            "Receipts[1]",
            "nested",
        ),
        (
            b'<Receipts><Receipt ID="1" Status="2"/><Receipt ID="2"/></Receipts>',
            "Receipts[1].status",
            "missing",
        ),
    ],
)
def test_one_good_and_one_bad_receipt_in_a_list(raw: bytes, field: str, match: str) -> None:
    parsed = parse_receipt(raw)
    assert [(r.message_id, r.state) for r in parsed.reports] == [("1", "delivered")]
    (error,) = parsed.rejected
    assert (error.index, error.field) == (1, field)
    assert match in error.reason
    assert error.record


def test_a_list_of_only_bad_receipts_has_no_report() -> None:
    parsed = parse_receipt(b'[{"id": "1"}, {"status": 2}]', "application/json")
    assert parsed.reports == [] and [e.index for e in parsed.rejected] == [0, 1]


def test_json_scalar_is_refused() -> None:
    with pytest.raises(ReportParseError, match="object or an array"):
        parse_receipt(b'"just a string"', "application/json")


def test_bad_mapping() -> None:
    with pytest.raises(ReportParseError, match="string or integer"):
        parse_receipt({"id": "1", "status": None})  # type: ignore[dict-item]


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=256), content_type=st.sampled_from(["", "application/json"]))
def test_arbitrary_bytes_only_raise_report_parse_error(raw: bytes, content_type: str) -> None:
    try:
        reports = parse_receipt(raw, content_type)
    except ReportParseError as exc:
        assert not exc.reason.startswith("internal"), exc.__cause__
    else:
        assert all(isinstance(r, DeliveryReport) for r in reports.reports)
        for error in reports.rejected:
            assert isinstance(error, ReportParseError) and error.index is not None
            assert not error.reason.startswith("internal"), error.__cause__


@pytest.mark.parametrize(
    ("raw", "content_type", "message_id"),
    [
        # the request's customid and the number: the id the sender registered
        (b"customid=1818980422&number=%2B420777123456&status=2", "", "1818980422:420777123456"),
        (b'{"CustomID": "7", "number": "777123456", "status": 2}', "", "7:420777123456"),
        (
            b'<Receipt CustomID="7" RequestID="99" Number="00420777123456" Status="2"/>',
            "text/xml",
            "7:420777123456",
        ),
        # a customid without a number cannot name one message: the id as given
        (b"customid=7&status=2", "", "7"),
        (b"id=12345&number=420777123456&status=2", "", "12345"),
    ],
)
def test_a_receipt_naming_the_customid_names_the_registered_id(
    raw: bytes, content_type: str, message_id: str
) -> None:
    (report,) = parse_receipt(raw, content_type)
    assert report.message_id == message_id


def test_the_receipt_id_is_the_one_the_sender_registers() -> None:
    from core.batch import REQUEST_NUMBER_KEY, Batch
    from providers.smsmanager.ids import custom_id, provider_id

    numbered = Batch("spring", 1, "spring-b1", "Shop", "Hi", (), 0, meta={REQUEST_NUMBER_KEY: 42})
    cid = custom_id(numbered)
    assert cid == "42"  # the worker's request number
    (report,) = parse_receipt(f"customid={cid}&number=420777000001&status=2".encode())
    assert report.message_id == provider_id(cid, "420777000001")
