"""ANTS delivery-report parsing: both formats, JSON and XML, and every way a body can be bad.

A bad envelope raises ReportParseError; a bad record in a good envelope is rejected on its
own (`Parsed.rejected`, with its index and field path) and the other records still count.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.ants.reports import parse_callback, parse_reports_response
from providers.reports import MAX_REPORT_BYTES, DeliveryReport, Parsed, ReportParseError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
JSON, XML = "application/json", "application/xml"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def without(report: DeliveryReport, *fields: str) -> dict[str, object]:
    data = dataclasses.asdict(report)
    for field in fields:
        data.pop(field)
    return data


# -- the newer (v1) callback ------------------------------------------------------------


def test_v1_json_seed_example() -> None:
    reports = parse_callback(body("ants_v1_callback.json"), JSON)
    assert [r.message_id for r in reports] == ["25501288135972440649", "25501288135972440650"]
    first = reports[0]
    assert first == DeliveryReport(
        message_id="25501288135972440649",
        state="delivered",
        final=True,
        bulk_id="898319fa-34f0-49b7-a3b0-4235cc716a1f",
        to="66123456789",
        status_code="000",
        status_name="DELIVERED",
        group="DELIVERED",
        done_at="2019-05-27T14:40:09.44",
        sent_at="2019-05-27T14:39:40.273",
        price="1 CREDIT",
        callback_data="ANTS Data",
        provider="ants",
        format="v1",
    )
    assert reports[1].to == "66112233445"


@pytest.mark.parametrize(
    "name",
    [
        "ants_v1_callback_utf16.xml",  # UTF-16 with BOM, as the sample declares
        "ants_v1_callback_utf16_declared_sent_utf8.xml",  # declares utf-16, bytes are UTF-8
        "ants_v1_callback_utf16be_nobom.xml",  # UTF-16 big-endian, no BOM
    ],
)
@pytest.mark.parametrize("content_type", [XML, "text/xml; charset=utf-16", ""])
def test_v1_xml_seed_example_in_every_encoding(name: str, content_type: str) -> None:
    xml = parse_callback(body(name), content_type)
    as_json = parse_callback(body("ants_v1_callback.json"), JSON)
    assert [r.bulk_id for r in xml] == ["9f4b72ca-0e28-4a7f-a6ff-d6483a17f3fa"] * 2
    # The XML sample differs from the JSON one only in bulkId.
    assert [without(r, "bulk_id") for r in xml] == [without(r, "bulk_id") for r in as_json]


def test_utf16_xml_with_bom_is_what_the_fixture_holds() -> None:
    raw = body("ants_v1_callback_utf16.xml")
    assert raw.startswith(b"\xff\xfe<\x00?\x00")
    assert 'encoding="utf-16"' in raw.decode("utf-16")


def test_xml_in_a_declared_legacy_encoding() -> None:
    xml = (
        '<?xml version="1.0" encoding="windows-874"?><CALLBACK><bulkId>b</bulkId><details>'
        "<detail><messageId>1</messageId><text>ทดสอบ</text>"
        "<status><code>000</code><name>DELIVERED</name></status></detail></details></CALLBACK>"
    )
    (report,) = parse_callback(xml.encode("cp874"), XML)
    assert (report.message_id, report.state) == ("1", "delivered")


V1_MIXED = {
    "n-undel": ("undeliverable", True, "UNDELIVERED", "211"),
    "n-exp": ("expired", True, "EXPIRED", "305"),
    "n-rej": ("rejected", True, "REJECTED", "201"),
    "n-comp": ("pending", False, "COMPLETED", "COMPLETED"),
    "n-pend": ("pending", False, "PENDING", "101"),
    "n-code-only-rej": ("rejected", True, "REJECTED", "404"),
    "n-code-only-undel": ("undeliverable", True, "UNDELIVERED", "285"),
    "n-code-only-exp": ("expired", True, "EXPIRED", "306"),
    "n-complated": ("pending", False, "COMPLETED", "102"),
    "n-zero-int": ("delivered", True, "DELIVERED", "000"),
}


def test_v1_status_names_and_code_fallback() -> None:
    reports = parse_callback(body("ants_v1_callback_mixed.json"), JSON)
    got = {r.message_id: (r.state, r.final, r.group, r.status_code) for r in reports}
    assert got == V1_MIXED
    assert all(r.bulk_id == "bulk-mixed" and r.format == "v1" for r in reports)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("000", "delivered"),
        ("101", "pending"),
        ("102", "pending"),
        ("200", "rejected"),  # credit not enough: a 2xx filed under REJECTED
        ("202", "rejected"),
        ("204", "undeliverable"),
        ("264", "rejected"),
        ("300", "expired"),
        ("307", "expired"),
        ("402", "rejected"),
        ("412", "undeliverable"),  # a 4xx filed under UNDELIVERED
        ("413", "rejected"),  # listed under both; rejection wins
    ],
)
def test_v1_code_ranges_when_the_name_is_missing(code: str, state: str) -> None:
    doc = {"details": [{"messageId": "m", "status": {"code": code}}]}
    (report,) = parse_callback(orjson.dumps(doc), JSON)
    assert report.state == state


# -- the 2018 format --------------------------------------------------------------------


def test_2018_reports_json() -> None:
    first, second = parse_reports_response(body("ants_2018_reports.json"), JSON)
    assert first == DeliveryReport(
        message_id="bcfb828b-7df9-4e7b-8715-f34f5c61271a",
        state="delivered",
        final=True,
        bulk_id="80664c0c-e1ca-414d-806a-5caf146463df",
        to="41793026731",
        status_code="5",
        status_name="DELIVERED_TO_HANDSET",
        group="DELIVERED",
        error_code="0",
        error_name="NO_ERROR",
        permanent=False,
        done_at="2015-02-12T09:51:43.127+0100",
        sent_at="2015-02-12T09:51:43.123+0100",
        sms_count=1,
        price="0.5 THB",
        callback_data="User defined data.",
        provider="ants",
        format="2018",
    )
    assert (second.error_code, second.permanent, second.price) == ("", None, "0.5 CREDIT")


@pytest.mark.parametrize(
    ("json_name", "xml_name"),
    [("ants_2018_reports.json", "ants_2018_reports.xml"), ("ants_2018_logs.json", None)],
)
def test_2018_xml_mirror_parses_like_the_json(json_name: str, xml_name: str | None) -> None:
    from_json = parse_reports_response(body(json_name), JSON)
    assert all(r.state == "delivered" and r.final for r in from_json)
    if xml_name:
        assert parse_reports_response(body(xml_name), XML) == from_json


def test_2018_logs_xml() -> None:
    (report,) = parse_reports_response(body("ants_2018_logs.xml"), XML)
    from_json = parse_reports_response(body("ants_2018_logs.json"), JSON)
    assert report == from_json[0]


def test_2018_by_message_id_and_empty() -> None:
    (report,) = parse_reports_response(body("ants_2018_reports_by_message_id.json"), JSON)
    assert report.message_id == "ff4804ef-6ab6-4abd-984d-ab3b1387e852"
    assert parse_reports_response(body("ants_2018_reports_empty.json"), JSON) == Parsed([], [])


def test_2018_groups_through_the_callback() -> None:
    reports = parse_callback(body("ants_2018_callback_mixed.json"), JSON)
    got = {r.message_id: (r.state, r.final, r.group) for r in reports}
    assert got == {
        "m-acc": ("accepted", False, "ACCEPTED"),
        "m-pend": ("pending", False, "PENDING"),
        "m-undel": ("undeliverable", True, "UNDELIVERABLE"),
        "m-exp": ("expired", True, "EXPIRED"),
        "m-rej": ("rejected", True, "REJECTED"),
    }
    undel = reports[2]
    assert (undel.error_code, undel.error_name, undel.permanent) == (
        "1",
        "EC_UNKNOWN_SUBSCRIBER",
        True,
    )
    assert (undel.sms_count, reports[3].permanent, reports[4].status_code) == (2, False, "20")


def test_2018_group_from_name_when_id_missing() -> None:
    doc = {"results": [{"messageId": "m", "status": {"groupName": "EXPIRED", "id": 15}}]}
    (report,) = parse_callback(orjson.dumps(doc), JSON)
    assert (report.state, report.final) == ("expired", True)


def test_request_error_answer_carries_the_code() -> None:
    with pytest.raises(ReportParseError) as info:
        parse_reports_response(body("ants_request_error.json"), JSON)
    assert info.value.code == "UNAUTHORIZED"


def test_reports_response_refuses_the_callback_format() -> None:
    with pytest.raises(ReportParseError, match="results"):
        parse_reports_response(body("ants_v1_callback.json"), JSON)


def test_body_as_str_and_bytearray() -> None:
    text = body("ants_v1_callback.json").decode("utf-8")
    assert parse_callback(text) == parse_callback(bytearray(text.encode()), JSON)


# -- bad bodies ---------------------------------------------------------------------------

BAD = {
    # the 2018 document's examples as extracted from the PDF: `0. 50`, a trailing comma
    "ants_2018_reports_seed_verbatim.json": "JSON",
    "ants_2018_reports_by_message_id_seed_verbatim.json": "JSON",
    "ants_2018_logs_seed_verbatim.json": "JSON",
    "ants_truncated.json": "truncated",
    "ants_truncated.xml": "truncated",
    "ants_truncated_utf16.xml": "utf-16",
    "ants_malformed.json": "JSON",
    "ants_malformed.xml": "XML",
    "ants_xxe_file.xml": "DTD",
    "ants_xxe_external_dtd.xml": "DTD",
    "ants_xxe_parameter_entity.xml": "DTD",
    "ants_billion_laughs.xml": "DTD",
    "ants_wrong_type_details.json": "details",
    "ants_top_level_array.json": "object",
    "ants_neither_format.json": "neither",
}

# A good envelope with one bad record: (fixture, index, field path, message pattern).
BAD_RECORD = {
    "ants_wrong_type_message_id.json": (1, "details[1].messageId", r"details\[1\]\.messageId"),
    "ants_wrong_type_sms_count.json": (0, "results[0].smsCount", r"results\[0\]\.smsCount"),
    "ants_wrong_type_status.json": (0, "results[0].status", r"results\[0\]\.status"),
    "ants_wrong_type_permanent.json": (0, "results[0].error.permanent", r"error\.permanent"),
    "ants_unknown_group.json": (0, "results[0].status.groupId", "unknown status group 9"),
    "ants_unknown_v1_status.json": (0, "details[0].status.code", "unknown status"),
    "ants_missing_message_id.xml": (0, "details[0].messageId", r"details\[0\]\.messageId: missing"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_envelopes_raise_report_parse_error_quickly(name: str) -> None:
    content_type = XML if name.endswith(".xml") else JSON
    started = time.monotonic()
    with pytest.raises(ReportParseError) as info:
        parse_callback(body(name), content_type)
    with pytest.raises(ReportParseError):
        parse_reports_response(body(name), content_type)
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert re.search(BAD[name], message), message
    assert info.value.index is None
    assert "root:" not in message and "/bin/" not in message  # nothing of /etc/passwd


@pytest.mark.parametrize("name", sorted(BAD_RECORD))
def test_a_bad_record_is_rejected_alone_with_its_index_and_field(name: str) -> None:
    content_type = XML if name.endswith(".xml") else JSON
    index, field, pattern = BAD_RECORD[name]
    parsed = parse_callback(body(name), content_type)
    (error,) = parsed.rejected
    assert isinstance(error, ReportParseError)
    assert (error.index, error.field) == (index, field)
    assert re.search(pattern, str(error)), str(error)
    assert not error.reason.startswith("internal"), error.__cause__
    assert error.record  # the raw record is kept for inspection
    assert len(parsed.reports) == index  # the records before it were good
    if name.startswith("ants_wrong_type_message_id"):
        assert [r.message_id for r in parsed.reports] == ["1"]
        assert orjson.loads(error.record)["messageId"] == {"id": 2}


def test_error_names_the_record_index() -> None:
    parsed = parse_callback(body("ants_wrong_type_message_id.json"), JSON)
    (error,) = parsed.rejected
    assert (error.index, error.field) == (1, "details[1].messageId")
    assert error.as_dict() == {
        "index": 1,
        "field": "details[1].messageId",
        "reason": "expected a string, got dict",
        "record": '{"messageId":{"id":2},"status":{"code":"000","name":"DELIVERED"}}',
    }


def _status_2018(group: int = 3) -> dict[str, object]:
    return {"groupId": group, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}


GOOD_2018 = {"messageId": "c-1", "to": "66811111111", "status": _status_2018()}
GOOD_V1 = {"messageId": "c-1", "status": {"code": "000", "name": "DELIVERED"}}
XML_2018 = (
    "<reportResponse><results>"
    "<result><messageId>c-1</messageId><status><groupId>3</groupId><id>5</id></status></result>"
    "<result><messageId>c-2</messageId><status><groupId>9</groupId></status></result>"
    "</results></reportResponse>"
)
XML_V1 = (
    "<CALLBACK><bulkId>b</bulkId><details>"
    "<detail><messageId>c-1</messageId><status><code>000</code></status></detail>"
    "<detail><messageId>c-2</messageId><status><code>999</code><name>X</name></status></detail>"
    "</details></CALLBACK>"
)
ONE_GOOD_ONE_BAD = {
    "2018 json": (
        orjson.dumps({"results": [GOOD_2018, {"messageId": "c-2", "status": _status_2018(9)}]}),
        JSON,
        "results[1].status.groupId",
    ),
    "2018 xml": (XML_2018.encode(), XML, "results[1].status.groupId"),
    "v1 json": (
        orjson.dumps({"bulkId": "b", "details": [GOOD_V1, {"messageId": 7.5, "status": {}}]}),
        JSON,
        "details[1].status.code",
    ),
    "v1 xml": (XML_V1.encode(), XML, "details[1].status.code"),
}


@pytest.mark.parametrize("fmt", sorted(ONE_GOOD_ONE_BAD))
def test_one_good_and_one_bad_record_in_each_format(fmt: str) -> None:
    raw, content_type, field = ONE_GOOD_ONE_BAD[fmt]
    parsed = parse_callback(raw, content_type)
    (report,) = parsed.reports
    assert (report.message_id, report.state, report.final) == ("c-1", "delivered", True)
    (error,) = parsed.rejected
    assert (error.index, error.field) == (1, field)
    assert "c-2" in error.record or "7.5" in error.record


def test_reports_response_keeps_the_good_records_of_a_page() -> None:
    for raw, content_type, field in (ONE_GOOD_ONE_BAD["2018 json"], ONE_GOOD_ONE_BAD["2018 xml"]):
        parsed = parse_reports_response(raw, content_type)
        assert [r.message_id for r in parsed] == ["c-1"]
        assert [(e.index, e.field) for e in parsed.rejected] == [(1, field)]


@pytest.mark.parametrize(
    ("raw", "content_type", "field", "reason"),
    [
        (b'{"results": [5, null]}', JSON, "results[0]", "expected an object, got int"),
        (b'{"details": ["x", []]}', JSON, "details[0]", "expected an object, got str"),
        (
            b"<r><results><result><messageId>c-1</messageId><status><groupId>3</groupId></status>"
            b"</result><oops/></results></r>",
            XML,
            "results[1]",
            "unexpected element <oops>",
        ),
    ],
)
def test_records_that_are_not_records_are_rejected(
    raw: bytes, content_type: str, field: str, reason: str
) -> None:
    parsed = parse_callback(raw, content_type)
    first = parsed.rejected[0]
    assert (first.field, first.reason) == (field, reason)
    assert len(parsed.reports) + len(parsed.rejected) == 2


def test_parsed_is_a_sequence_of_its_good_reports() -> None:
    parsed = parse_callback(ONE_GOOD_ONE_BAD["v1 json"][0], JSON)
    assert len(parsed) == 1 and list(parsed) == parsed.reports and parsed[0] is parsed.reports[0]
    (only,) = parsed
    assert only.message_id == "c-1"


def test_a_hostile_record_is_rejected_as_internal_error_without_costing_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from providers.ants import reports as ants

    real = ants._sms_count

    def boom(item: object) -> int | None:
        if getattr(item, "index", None) == 1:
            raise RecursionError("deep")
        return real(item)  # type: ignore[arg-type]

    monkeypatch.setattr(ants, "_sms_count", boom)
    raw = orjson.dumps({"results": [GOOD_2018, {**GOOD_2018, "messageId": "c-2"}, GOOD_2018]})
    parsed = parse_callback(raw, JSON)
    assert len(parsed) == 2
    (error,) = parsed.rejected
    assert (error.index, error.reason) == (1, "internal parser error: RecursionError")
    assert isinstance(error.__cause__, RecursionError)


def test_oversized_body_is_refused_before_parsing() -> None:
    doc = orjson.dumps({"details": [], "bulkId": "b"})
    padded = doc + b" " * (MAX_REPORT_BYTES - len(doc))
    assert parse_callback(padded, JSON) == Parsed([], [])  # exactly at the limit: fine
    with pytest.raises(ReportParseError, match="limit"):
        parse_callback(padded + b" ", JSON)
    with pytest.raises(ReportParseError):
        parse_callback("x" * (MAX_REPORT_BYTES + 1))


@pytest.mark.parametrize("raw", [b"", b"   ", b"\xff\xfe", b"null", b"42", b'"x"', b"<a/>"])
def test_degenerate_bodies(raw: bytes) -> None:
    with pytest.raises(ReportParseError):
        parse_callback(raw, "")


def test_non_bytes_body_is_refused() -> None:
    with pytest.raises(ReportParseError):
        parse_callback(12345)  # type: ignore[arg-type]


# -- fuzzing ------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(["", JSON, XML, "text/xml; charset=utf-16", "text/plain"])


def _only_report_errors(raw: bytes, content_type: str) -> None:
    for parser in (parse_callback, parse_reports_response):
        try:
            result = parser(raw, content_type)
        except ReportParseError as exc:
            assert not exc.reason.startswith("internal"), exc.__cause__
        else:
            assert all(isinstance(r, DeliveryReport) for r in result.reports)
            for error in result.rejected:
                assert isinstance(error, ReportParseError) and error.index is not None
                assert not error.reason.startswith("internal"), error.__cause__


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=512), content_type=CONTENT_TYPES)
def test_arbitrary_bytes_only_raise_report_parse_error(raw: bytes, content_type: str) -> None:
    _only_report_errors(raw, content_type)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "messageId",
        "status",
        "code",
        "name",
        "groupId",
        "groupName",
        "id",
        "error",
        "permanent",
        "smsCount",
        "price",
        "pricePerMessage",
        "currency",
        "credit",
        "to",
        "bulkId",
        "doneAt",
        "details",
        "results",
    ]
)
RECORDS = st.dictionaries(KEYS, JSON_VALUES | st.dictionaries(KEYS, JSON_VALUES), max_size=6)


@settings(max_examples=100, deadline=None)
@given(top=st.sampled_from(["results", "details"]), items=st.lists(RECORDS, max_size=3))
def test_structured_json_only_raises_report_parse_error(top: str, items: list[object]) -> None:
    _only_report_errors(json.dumps({top: items}).encode(), JSON)
