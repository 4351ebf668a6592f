"""SMSC.ru status answers in every fmt / all combination, single and multiple, and errors.

A bad record of a multiple answer is rejected on its own (`Parsed.rejected`); a bad single
answer, an error answer or an unreadable one raises ReportParseError.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.reports import STATES, DeliveryReport, ReportParseError
from providers.smsc.reports import STATUSES, parse_status

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def brief(r: DeliveryReport) -> tuple[str, str, bool, str, str, str]:
    return (r.message_id, r.state, r.final, r.to, r.status_code, r.error_code)


SINGLE = [
    # fixture, fmt, all, expected (id, state, final, to, status, err), done_at, sent_at, price
    (
        "smsc_fmt0_all0.txt",
        0,
        0,
        ("42", "delivered", True, "79990000000", "1", "0"),
        "10.10.2010 10:10:10",
        "",
        "",
    ),
    (
        "smsc_fmt0_all1.txt",
        0,
        1,
        ("42", "delivered", True, "79999999999", "1", "0"),
        "27.05.2019 14:40:09",
        "27.05.2019 14:39:40",
        "2.5",
    ),
    (
        "smsc_fmt0_all2_cp1251.txt",
        0,
        2,
        ("42", "delivered", True, "79999999999", "1", "0"),
        "27.05.2019 14:40:09",
        "27.05.2019 14:39:40",
        "2.5",
    ),
    (
        "smsc_fmt0_hlr.txt",
        0,
        0,
        ("42", "delivered", True, "79990000000", "1", "0"),
        "27.05.2019 14:40:09",
        "",
        "",
    ),
    (
        "smsc_fmt1_all0.txt",
        1,
        0,
        ("42", "delivered", True, "79990000000", "1", "0"),
        "1286524541",
        "",
        "",
    ),
    (
        "smsc_fmt1_all1.txt",
        1,
        1,
        ("42", "delivered", True, "79999999999", "1", "0"),
        "1558968009",
        "1558967980",
        "",
    ),
    (
        "smsc_fmt2_all0.xml",
        2,
        0,
        ("42", "delivered", True, "79990000000", "1", "0"),
        "27.05.2019 14:40:09",
        "",
        "",
    ),
    (
        "smsc_fmt2_all1.xml",
        2,
        1,
        ("42", "rejected", True, "79999999999", "22", "3"),
        "27.05.2019 14:40:09",
        "27.05.2019 14:39:40",
        "0",
    ),
    (
        "smsc_fmt3_all0.json",
        3,
        0,
        ("42", "expired", True, "79990000000", "3", "0"),
        "27.05.2019 14:40:09",
        "",
        "",
    ),
    (
        "smsc_fmt3_all2.json",
        3,
        2,
        ("42", "delivered", True, "79999999999", "1", "0"),
        "27.05.2019 14:40:09",
        "27.05.2019 14:39:40",
        "2.5",
    ),
]


@pytest.mark.parametrize(
    ("name", "fmt", "all_", "expected", "done_at", "sent_at", "price"),
    SINGLE,
    ids=[s[0] for s in SINGLE],
)
def test_single_status(
    name: str,
    fmt: int,
    all_: int,
    expected: tuple[str, str, bool, str, str, str],
    done_at: str,
    sent_at: str,
    price: str,
) -> None:
    (report,) = parse_status(body(name), fmt, all_, message_id="42", phone="79990000000")
    assert brief(report) == expected
    assert (report.done_at, report.sent_at, report.price) == (done_at, sent_at, price)
    assert (report.provider, report.format) == ("smsc", "smsc")


def test_status_name_from_the_answer_when_given() -> None:
    (utf8,) = parse_status(body("smsc_fmt0_all1.txt"), 0, 1)
    (cp1251,) = parse_status(body("smsc_fmt0_all2_cp1251.txt"), 0, 2)
    (xml,) = parse_status(body("smsc_fmt2_all1.xml"), 2, 1)
    assert (utf8.status_name, cp1251.status_name) == ("Доставлено", "Доставлено")
    assert (xml.status_name, xml.group, xml.sms_count) == ("Неверный номер", "INVALID_NUMBER", 1)


def test_str_input_is_accepted() -> None:
    (report,) = parse_status("Status = 3, check_time = 01.01.2024 00:00:00, err = 0", 0)
    assert (report.state, report.final, report.message_id) == ("expired", True, "")


MULTI = [
    (
        "smsc_fmt0_multi.txt",
        0,
        [
            ("101", "delivered", True, "79999999991", "1", "0"),
            ("102", "undeliverable", True, "79999999992", "20", "1"),
            ("103", "pending", False, "79999999993", "-3", ""),
        ],
    ),
    (
        "smsc_fmt1_multi.txt",
        1,
        [
            ("101", "delivered", True, "79999999991", "1", "0"),
            ("102", "expired", True, "79999999992", "3", "1"),
            ("103", "accepted", False, "79999999993", "-1", "0"),
        ],
    ),
    (
        "smsc_fmt2_multi.xml",
        2,
        [
            ("101", "delivered", True, "79999999991", "1", "0"),
            ("102", "pending", False, "79999999992", "0", "0"),
        ],
    ),
    (
        "smsc_fmt3_multi.json",
        3,
        [
            ("101", "delivered", True, "79999999991", "1", "0"),
            ("102", "undeliverable", True, "79999999992", "25", "11"),
            ("103", "pending", False, "79999999993", "77", "0"),  # unknown: kept, not final
        ],
    ),
]


@pytest.mark.parametrize(("name", "fmt", "expected"), MULTI, ids=[m[0] for m in MULTI])
def test_multiple_statuses(name: str, fmt: int, expected: list[tuple[object, ...]]) -> None:
    reports = parse_status(body(name), fmt, 0, message_id="101,102,103", phone="7,7,7")
    assert [brief(r) for r in reports] == expected


def test_fmt1_multiple_with_all1_takes_the_last_field_as_id() -> None:
    text = "1,1558968009,0,1558967980,79999999999,2.50,SMSC.RU,Delivered,Hi, there,,0,555\n"
    (report,) = parse_status(text, 1, 1, message_id="555,")
    assert (report.message_id, report.to, report.sent_at) == ("555", "79999999999", "1558967980")


def test_fmt1_hlr_all1_reads_phone_after_the_hlr_fields() -> None:
    fields = ["1", "1558968009", "0", "250010000000000", "79160000000", "250", "01"]
    fields += ["Russia", "MTS", "", "", "1558967980", "79999999999", "0", "SMSC", "ok", "", "4"]
    (report,) = parse_status(",".join(fields), 1, 1)
    assert (report.to, report.sent_at) == ("79999999999", "1558967980")


@pytest.mark.parametrize(
    ("status", "state", "final"),
    [
        (-3, "pending", False),
        (-1, "accepted", False),
        (0, "pending", False),
        (1, "delivered", True),
        (2, "delivered", True),
        (3, "expired", True),
        (4, "delivered", True),
        (20, "undeliverable", True),
        (22, "rejected", True),
        (23, "rejected", True),
        (24, "rejected", True),
        (25, "undeliverable", True),
        (99, "pending", False),
    ],
)
def test_status_table(status: int, state: str, final: bool) -> None:
    (report,) = parse_status(f'{{"status": {status}, "err": 0}}', 3, message_id="1")
    assert (report.state, report.final, report.status_code) == (state, final, str(status))
    assert report.state in STATES
    assert status in STATUSES or report.group == "UNKNOWN"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "code"),
    [
        ("smsc_fmt0_error.txt", 0, "9"),
        ("smsc_fmt1_error.txt", 1, "2"),
        ("smsc_fmt2_error.xml", 2, "2"),
        ("smsc_fmt3_error.json", 3, "9"),
    ],
)
def test_error_answers_raise_with_the_code(name: str, fmt: int, code: str) -> None:
    with pytest.raises(ReportParseError) as info:
        parse_status(body(name), fmt, message_id="1")
    assert info.value.code == code
    assert f"SMSC error {code}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fmt", "all_", "message_id", "match"),
    [
        ("", 0, 0, "1", "empty"),
        ("Hello there", 0, 0, "1", "Status"),
        ("Status = ok, err = 0", 0, 0, "1", "status"),
        ("1,2", 1, 0, "1", "3 comma-separated"),
        ("x,1,0", 1, 0, "1", "status"),
        ("<sms><status>1</status>", 2, 0, "1", "XML"),
        ("<other/>", 2, 0, "1", "<sms> or <list>"),
        ('{"status": 1', 3, 0, "1", "JSON"),
        ('"status"', 3, 0, "1", "object or an array"),
        ('{"status": 1, "cost": "cheap"}', 3, 0, "1", "cost"),
        ("Status = 1, cost = cheap", 0, 0, "1", "cost"),
        ("1,0,0", 7, 0, "1", "fmt"),
        ("1,0,0", 1, 5, "1", "all"),
    ],
)
def test_malformed_answers(text: str, fmt: int, all_: int, message_id: str, match: str) -> None:
    with pytest.raises(ReportParseError, match=match):
        parse_status(text, fmt, all_, message_id=message_id)


@pytest.mark.parametrize(
    ("text", "fmt", "all_", "message_id", "field", "match"),
    [
        ("1,1558968009,0", 1, 0, "1,2", "line[0]", "id/phone"),
        ("<list><sms><status>1</status></sms></list>", 2, 0, "1,2", "list.sms[0].id", "missing"),
        ("<list><foo/></list>", 2, 0, "1,2", "list.sms[0]", "unexpected"),
        ('[{"status": 1}]', 3, 0, "1,2", "[0].id", "missing"),
        ("[7]", 3, 0, "1,2", "[0]", "expected an object"),
    ],
)
def test_bad_records_of_a_multiple_answer_are_rejected(
    text: str, fmt: int, all_: int, message_id: str, field: str, match: str
) -> None:
    parsed = parse_status(text, fmt, all_, message_id=message_id)
    (error,) = parsed.rejected
    assert parsed.reports == []
    assert (error.index, error.field) == (0, field)
    assert match in error.reason


ONE_GOOD_ONE_BAD = [
    (0, "Status = 1, check_time = 01.01.2024 00:00:00, err = 0, id = 101\nStatus = ok, id = 102"),
    (1, "1,1286524541,0,101,79990000001\nx,1286524541,0,102,79990000002"),
    (2, "<list><sms><id>101</id><status>1</status></sms><sms><id>102</id></sms></list>"),
    (3, '[{"id": "101", "status": 1, "err": 0}, {"id": "102", "status": "delivered"}]'),
]


@pytest.mark.parametrize(
    ("fmt", "text"), ONE_GOOD_ONE_BAD, ids=[f"fmt{f}" for f, _ in ONE_GOOD_ONE_BAD]
)
def test_one_good_and_one_bad_record_in_each_format(fmt: int, text: str) -> None:
    parsed = parse_status(text, fmt, 0, message_id="101,102")
    assert [(r.message_id, r.state) for r in parsed.reports] == [("101", "delivered")]
    (error,) = parsed.rejected
    assert error.index == 1 and "status" in error.field
    assert "102" in error.record


def test_an_error_line_in_a_multiple_answer_is_an_error_answer() -> None:
    with pytest.raises(ReportParseError) as info:
        parse_status("Status = 1, id = 101\nERROR = 9 (too many requests)", 0, 0, "101,102")
    assert info.value.code == "9"


@pytest.mark.parametrize(
    ("name", "fmt", "match"),
    [
        ("smsc_fmt2_xxe.xml", 2, "DTD"),
        ("smsc_fmt3_wrong_type.json", 3, "status"),
        ("ants_billion_laughs.xml", 2, "DTD"),
    ],
)
def test_bad_fixtures(name: str, fmt: int, match: str) -> None:
    with pytest.raises(ReportParseError, match=match) as info:
        parse_status(body(name), fmt, message_id="1")
    assert "root:" not in str(info.value)


def test_multiple_answer_fixture_without_id_is_a_rejected_record() -> None:
    parsed = parse_status(body("smsc_fmt3_multi_missing_id.json"), 3, message_id="1")
    (error,) = parsed.rejected
    assert (parsed.reports, error.index, error.field) == ([], 0, "[0].id")


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=256) | st.text(max_size=256), fmt=st.integers(0, 3))
def test_arbitrary_input_only_raises_report_parse_error(raw: bytes | str, fmt: int) -> None:
    try:
        reports = parse_status(raw, fmt, 0, message_id="1")
    except ReportParseError as exc:
        assert not exc.reason.startswith("internal"), exc.__cause__
    else:
        assert all(isinstance(r, DeliveryReport) for r in reports.reports)
        for error in reports.rejected:
            assert isinstance(error, ReportParseError) and error.index is not None
            assert not error.reason.startswith("internal"), error.__cause__


def test_a_report_names_the_message_the_sender_recorded() -> None:
    """SMSC names a message by its request id and its number: `report_key` gives the
    `provider_id` the sender recorded for it (`{id}:{number}`)."""
    from providers.smsc import provider_key, report_key

    reports = parse_status(
        body("smsc_fmt3_multi.json"), 3, 0, message_id="101,102,103", phone="7,7,7"
    )
    assert [report_key(r) for r in reports] == [
        "101:79999999991",
        "102:79999999992",
        "103:79999999993",
    ]
    assert report_key(reports[0]) == provider_key("101", "+7 999 999-99-91")


def test_webhook_reports_are_named_by_id_and_phone() -> None:
    """`parse_report` (the webhook's parser) names each report `{id}:{phone}`, the key the
    worker kept our messageId under; a record without a phone keeps its bare id."""
    from providers.smsc import parse_report

    parsed = parse_report(
        b'[{"id": "c-b0", "phone": "+66812345600", "status": 1},'
        b' {"id": "c-b0", "status": 1}, {"status": "x"}]',
        "",
        {},
    )
    assert [(r.message_id, r.state) for r in parsed] == [
        ("c-b0:66812345600", "delivered"),
        ("c-b0", "delivered"),
    ]
    assert len(parsed.rejected) == 1
