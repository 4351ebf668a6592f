"""ANTS code tables: every seed code, as declarative cases (answer -> expected action).

The code lists below are typed from /work/shared/seeds/ants-http-api-2018.txt and
ants-status-codes.txt, not read from the module under test.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from providers.ants import codes
from providers.base import Action
from providers.classify import (
    parse_retry_after,
    reset_unknown_log,
)

A = Action
ACC, DONE, RETRY, THR, PERM, FATAL = (
    A.ACCEPTED,
    A.ALREADY_DONE,
    A.RETRY,
    A.THROTTLED,
    A.PERMANENT,
    A.FATAL,
)


@pytest.fixture(autouse=True)
def _fresh_unknown_log() -> None:
    reset_unknown_log()


# ------------------------------------------------------------------ 2018 status table
# (groupId, id, name, action, extra)
STATUS_CASES: list[tuple[int, int, str, Action, dict[str, Any]]] = [
    (0, 0, "MESSAGE_ACCEPTED", ACC, {}),
    (1, 3, "PENDING_WAITING_DELIVERY", ACC, {}),
    (1, 7, "PENDING_ENROUTE", ACC, {}),
    (1, 26, "PENDING_ACCEPTED", ACC, {}),
    (2, 4, "UNDELIVERABLE_REJECTED_OPERATOR", PERM, {"suppress": False}),
    (2, 9, "UNDELIVERABLE_NOT_DELIVERED", PERM, {"suppress": False}),
    (3, 2, "DELIVERED_TO_OPERATOR", ACC, {}),
    (3, 5, "DELIVERED_TO_HANDSET", ACC, {}),
    (4, 15, "EXPIRED_EXPIRED", PERM, {"suppress": False}),
    (4, 29, "EXPIRED_DLR_UNKNOWN", PERM, {"suppress": False}),
    (5, 6, "REJECTED_NETWORK", PERM, {"suppress": False}),
    (5, 8, "REJECTED_PREFIX_MISSING", PERM, {"suppress": True}),
    (5, 10, "REJECTED_DND", PERM, {"suppress": True}),
    (5, 11, "REJECTED_SOURCE", FATAL, {}),
    (5, 12, "REJECTED_NOT_ENOUGH_CREDITS", FATAL, {}),
    (5, 13, "REJECTED_SENDER", FATAL, {}),
    (5, 14, "REJECTED_DESTINATION", PERM, {"suppress": True}),
    (5, 17, "REJECTED_PREPAID_PACKAGE_EXPIRED", FATAL, {}),
    (5, 18, "REJECTED_DESTINATION_NOT_REGISTERED", FATAL, {}),
    (5, 19, "REJECTED_ROUTE_NOT_AVAILABLE", FATAL, {}),
    (5, 20, "REJECTED_FLOODING_FILTER", THR, {"retry_after": 3600.0}),
    (5, 21, "REJECTED_SYSTEM_ERROR", RETRY, {}),
    (5, 23, "REJECTED_DUPLICATE_MESSAGE_ID", DONE, {}),
    (5, 24, "REJECTED_INVALID_UDH", PERM, {"suppress": False}),
    (5, 25, "REJECTED_MESSAGE_TOO_LONG", PERM, {"suppress": False}),
    (5, 51, "MISSING_TO", PERM, {"suppress": False}),
]
GROUP_NAMES = {0: "ACCEPTED", 1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED"}
GROUP_NAMES |= {4: "EXPIRED", 5: "REJECTED"}


def _status(group: int, sid: int, name: str = "") -> dict[str, Any]:
    return {"groupId": group, "groupName": GROUP_NAMES.get(group, "?"), "id": sid, "name": name}


@pytest.mark.parametrize(("group", "sid", "name", "action", "extra"), STATUS_CASES)
def test_2018_status(
    group: int, sid: int, name: str, action: Action, extra: dict[str, Any]
) -> None:
    verdict = codes.classify_status(_status(group, sid, name))
    assert (verdict.action, verdict.code, verdict.name) == (action, str(sid), name)
    for field, value in extra.items():
        assert getattr(verdict, field) == value
    assert verdict.sent is (action in (ACC, DONE))


def test_2018_status_table_has_exactly_the_seed_ids() -> None:
    assert set(codes.STATUS_BY_ID) == {str(sid) for _, sid, *_ in STATUS_CASES}


def test_2018_status_accepts_padded_strings() -> None:
    # the document's own examples have stray spaces: " PENDING", "groupId": " 0"
    verdict = codes.classify_status({"groupId": " 1", "id": " 7", "name": " PENDING_ENROUTE"})
    assert verdict.action is ACC


# ------------------------------------------------------------------ 2018 error table
# id: permanent flag, per group, typed from the document
HANDSET_PERMANENT = {1, 9, 11, 12}
HANDSET_TEMPORARY = {5, 6, 8, 13, 21, 27, 31, 32, 33, 34, 35, 36, 255}
HANDSET_TEMPORARY |= set(range(256, 263)) | {500, 502, 503, 504, 507, 508, 509}
HANDSET_TEMPORARY |= set(range(1024, 1032)) | set(range(1152, 1167)) | set(range(1281, 1285))
HANDSET_TEMPORARY |= set(range(1536, 1542)) | set(range(1792, 1797))
USER_PERMANENT = {2049, 2052, 2053, 4096, 4100, 4101}
OPERATOR_PERMANENT = {10, 51, 2050, 4102}
OPERATOR_TEMPORARY = {20, 71, 501, 2048, 2051, 4097}
ERROR_SUPPRESS = {1, 9, 2049, 2052, 2050}  # about the NUMBER
ERROR_FATAL = {2053}  # the sender is blacklisted: the account cannot send

ERROR_CASES: list[tuple[int, str, bool]] = (
    [(0, "OK", False)]
    + [(i, "HANDSET_ERRORS", True) for i in sorted(HANDSET_PERMANENT)]
    + [(i, "HANDSET_ERRORS", False) for i in sorted(HANDSET_TEMPORARY)]
    + [(i, "USER_ERRORS", True) for i in sorted(USER_PERMANENT)]
    + [(i, "OPERATOR_ERRORS", True) for i in sorted(OPERATOR_PERMANENT)]
    + [(i, "OPERATOR_ERRORS", False) for i in sorted(OPERATOR_TEMPORARY)]
)


def test_error_case_list_is_the_seed_size() -> None:
    assert len(ERROR_CASES) == 86
    assert set(codes.ERROR_BY_ID) == {str(i) for i, _, _ in ERROR_CASES}


@pytest.mark.parametrize(("eid", "group", "permanent"), ERROR_CASES)
def test_2018_error_row_records_the_permanent_flag(eid: int, group: str, permanent: bool) -> None:
    row = codes.ERROR_BY_ID[str(eid)]
    assert (row.group, row.permanent) == (group, permanent)


def _expected_for_error(eid: int, permanent: bool) -> tuple[Action, bool]:
    if eid == 0:
        return PERM, False  # NO_ERROR carries no information: the status decides
    if eid in ERROR_FATAL:
        return FATAL, False
    return (PERM, eid in ERROR_SUPPRESS) if permanent else (RETRY, False)


@pytest.mark.parametrize(("eid", "group", "permanent"), ERROR_CASES)
def test_undeliverable_status_with_table_error(eid: int, group: str, permanent: bool) -> None:
    """No `permanent` key in the answer: the error table's flag decides."""
    verdict = codes.classify_status(_status(2, 9), {"groupId": 1, "id": eid})
    assert (verdict.action, verdict.suppress) == _expected_for_error(eid, permanent)


# (status, error, expected action, expected suppress): the answer's flag wins over the tables
FLAG_CASES: list[tuple[dict[str, Any], dict[str, Any], Action, bool]] = [
    # table says permanent (unknown subscriber); answer says temporary
    (_status(2, 9), {"id": 1, "name": "EC_UNKNOWN_SUBSCRIBER", "permanent": False}, RETRY, False),
    # table says temporary (absent subscriber); answer says permanent
    (_status(2, 9), {"id": 27, "permanent": True}, PERM, False),
    (_status(2, 9), {"id": 27, "permanent": False}, RETRY, False),
    # a retryable status becomes permanent when the error says so
    (_status(5, 21), {"id": 34, "permanent": True}, PERM, False),
    # a number-level status with a temporary error: resend, and do not suppress
    (_status(5, 10), {"id": 13, "name": "EC_CALL_BARRED", "permanent": False}, RETRY, False),
    (_status(5, 10), {"id": 2050, "permanent": True}, PERM, True),
    # unknown error id with a flag: the flag still decides
    (_status(2, 4), {"groupId": 3, "id": 9999, "permanent": False}, RETRY, False),
    # statuses that are not about delivery keep their own action
    (_status(3, 5), {"id": 1, "permanent": True}, ACC, False),
    (_status(5, 12), {"id": 27, "permanent": False}, FATAL, False),
    (_status(5, 20), {"id": 27, "permanent": True}, THR, False),
    (_status(5, 23), {"id": 27, "permanent": True}, DONE, False),
    (_status(0, 0), {"groupId": 0, "id": 0, "name": "NO_ERROR", "permanent": False}, ACC, False),
    # XML answers carry the flag as text
    (_status(2, 9), {"id": "1", "permanent": "false"}, RETRY, False),
    (_status(2, 9), {"id": "27", "permanent": " true "}, PERM, False),
]


@pytest.mark.parametrize(("status", "error", "action", "suppress"), FLAG_CASES)
def test_permanent_flag_in_the_answer_wins(
    status: dict[str, Any], error: dict[str, Any], action: Action, suppress: bool
) -> None:
    verdict = codes.classify_status(status, error)
    assert (verdict.action, verdict.suppress) == (action, suppress)


# ------------------------------------------------------------------ newer three-digit codes


def _codes(text: str) -> list[str]:
    return text.split()


SEED_NEW: dict[str, list[str]] = {
    "PENDING": _codes("000 101 102"),
    "UNDELIVERED": _codes(
        "204 206 207 208 209 210 211 213 214 215 218 219 220 221 222 223 224 226 227 228 "
        "229 230 231 232 233 234 235 236 237 238 242 243 244 245 246 247 251 252 253 254 "
        "255 259 260 261 262 263 265 266 267 268 269 270 271 272 273 274 275 276 277 278 "
        "279 280 281 282 283 284 285 412 413"
    ),
    "DELIVERED": _codes("000"),
    "EXPIRED": _codes("300 301 302 303 304 305 306 307"),
    "REJECTED": _codes(
        "200 201 202 203 212 216 217 225 239 240 241 248 249 250 256 257 258 264 400 402 "
        "403 404 405 406 407 408 409 410 411 413 414"
    ),
    "COMPLETED": _codes("COMPLETED"),
}
NEW_ACCEPTED = {"000", "101", "102", "COMPLETED"}
NEW_DONE = {"202"}
NEW_RETRY = {"204", "211", "213", "219", "220", "221", "223", "224", "227", "229", "231"}
NEW_RETRY |= {"234", "235", "236", "255", "263", "264", "265", "266", "268", "275", "277"}
NEW_RETRY |= {"278", "280", "281", "282", "283", "284", "285", "305", "306", "307"}
NEW_FATAL = {"200", "207", "208", "210", "212", "251", "252", "274", "400", "403"}
NEW_FATAL |= {"411", "413"}
NEW_SUPPRESS = {"201", "209", "243", "244", "248", "249", "258", "261", "270", "272"}
NEW_SUPPRESS |= {"402", "404", "414"}


def _new_expected(code: str) -> tuple[Action, bool]:
    for action, group in (
        (ACC, NEW_ACCEPTED),
        (DONE, NEW_DONE),
        (RETRY, NEW_RETRY),
        (FATAL, NEW_FATAL),
    ):
        if code in group:
            return action, False
    return PERM, code in NEW_SUPPRESS


NEW_CASES: list[tuple[str, str, Action, bool]] = [
    (code, group, *_new_expected(code)) for group, cs in SEED_NEW.items() for code in cs
]


def test_new_code_list_is_the_seed_size() -> None:
    assert len({c for _, cs in SEED_NEW.items() for c in cs}) == 111
    assert len(NEW_CASES) == 113  # 000 and 413 are each listed under two groups


@pytest.mark.parametrize(("code", "group", "action", "suppress"), NEW_CASES)
def test_new_code(code: str, group: str, action: Action, suppress: bool) -> None:
    verdict = codes.classify_code(code, group)
    assert (verdict.action, verdict.suppress) == (action, suppress)
    assert verdict.permanent is (action is PERM)


# the important ones, spelled out
KEY_NEW_CASES: list[tuple[str, str, Action, dict[str, Any]]] = [
    ("000", "DELIVERED", ACC, {}),
    ("000", "ACCEPTED", ACC, {}),
    ("0", "PENDING", ACC, {"code": "000"}),
    ("101", "PENDING", ACC, {}),
    ("204", "UNDELIVERED", RETRY, {}),
    ("211", "UNDELIVERED", RETRY, {}),
    ("285", "UNDELIVERED", RETRY, {}),
    ("201", "REJECTED", PERM, {"suppress": True}),
    ("402", "REJECTED", PERM, {"suppress": True}),
    ("404", "REJECTED", PERM, {"suppress": True}),
    ("412", "UNDELIVERED", PERM, {"suppress": False}),
    ("207", "UNDELIVERED", FATAL, {}),
    ("200", "REJECTED", FATAL, {}),
    ("212", "REJECTED", FATAL, {}),
    ("411", "REJECTED", FATAL, {}),
    ("413", "REJECTED", FATAL, {}),
    ("202", "REJECTED", DONE, {}),
    (202, "", DONE, {"code": "202"}),
]


@pytest.mark.parametrize(("code", "name", "action", "extra"), KEY_NEW_CASES)
def test_new_code_key_cases(
    code: str | int, name: str, action: Action, extra: dict[str, Any]
) -> None:
    verdict = codes.classify_code(code, name)
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


# ------------------------------------------------------------------ unknown codes
UNKNOWN_NEW: list[tuple[str, str, Action]] = [
    ("199", "PENDING", ACC),
    ("299", "UNDELIVERED", RETRY),
    ("399", "EXPIRED", PERM),
    ("499", "REJECTED", PERM),
    ("998", "DELIVERED", ACC),
    ("415", "", PERM),  # client-ish range
    ("390", "", PERM),
    ("150", "", ACC),
    ("299", "", RETRY),
    ("XYZ", "", RETRY),
]


@pytest.mark.parametrize(("code", "name", "action"), UNKNOWN_NEW)
def test_unknown_new_code_by_group(code: str, name: str, action: Action) -> None:
    assert codes.classify_code(code, name).action is action


UNKNOWN_2018: list[tuple[int, Action]] = [
    (0, ACC),
    (1, ACC),
    (2, PERM),
    (3, ACC),
    (4, PERM),
    (5, PERM),
    (77, RETRY),
]


@pytest.mark.parametrize(("group", "action"), UNKNOWN_2018)
def test_unknown_2018_status_by_group(group: int, action: Action) -> None:
    verdict = codes.classify_status({"groupId": group, "id": 999, "name": "NEW_THING"})
    assert (verdict.action, verdict.code) == (action, "999")


def test_unknown_code_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="providers.codes")
    for _ in range(3):
        codes.classify_code("299", "UNDELIVERED")
        codes.classify_status({"groupId": 5, "id": 99})
    codes.classify_code("298", "UNDELIVERED")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert sum("'299'" in m for m in messages) == 1
    assert sum("'99'" in m for m in messages) == 1


def test_known_code_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="providers.codes")
    codes.classify_code("204", "UNDELIVERED")
    codes.classify_status(_status(5, 21), {"id": 34})
    assert caplog.records == []


# ------------------------------------------------------------------ whole-request HTTP answers
SERVICE_EXC_JSON = (
    b'{"requestError": {"serviceException": {"messageId": "BAD_REQUEST",'
    b' "text": "[name : may not be null]"}}}'
)
SERVICE_EXC_XML = (
    b"<requestError><serviceException><messageId>INVALID_ARGUMENT</messageId>"
    b"<text>Invalid argument</text></serviceException></requestError>"
)
THROTTLE_JSON = (
    b'{"requestError": {"serviceException": {"messageId": "THROTTLE_EXCEPTION",'
    b' "text": "Too many requests. Try again later."}}}'
)

# (status, body, Retry-After, action, expected fields)
HTTP_CASES: list[tuple[int, bytes, str | None, Action, dict[str, Any]]] = [
    (
        400,
        SERVICE_EXC_JSON,
        None,
        PERM,
        {"description": "[name : may not be null]", "name": "BAD_REQUEST", "suppress": False},
    ),
    (
        400,
        SERVICE_EXC_XML,
        None,
        PERM,
        {"description": "Invalid argument", "name": "INVALID_ARGUMENT"},
    ),
    (400, b"plain words", None, PERM, {"description": "plain words"}),
    (400, b"", None, PERM, {"name": "BAD_REQUEST"}),
    (401, b"", None, FATAL, {"code": "401"}),
    (403, b"", None, FATAL, {"code": "403"}),
    (404, b"", None, FATAL, {}),  # a wrong URL: pause, never burn
    (405, b"", None, FATAL, {}),
    (413, b"", None, FATAL, {}),
    (422, b"", None, FATAL, {"name": "HTTP_422"}),
    (429, b"", "1e400", THR, {"retry_after": 86_400.0}),  # infinite: a day
    (429, b"", "nan", THR, {"retry_after": 1.0}),
    (429, THROTTLE_JSON, "30", THR, {"retry_after": 30.0, "name": "THROTTLE_EXCEPTION"}),
    (429, b"", "2.5", THR, {"retry_after": 2.5}),
    (429, b"", None, THR, {"retry_after": 1.0}),
    (429, b"", "soon", THR, {"retry_after": 1.0}),
    (500, b"", None, RETRY, {"retry_after": None}),
    (502, b"", None, RETRY, {}),
    (503, b"", "120", RETRY, {"retry_after": 120.0}),
    (504, b"", None, RETRY, {}),
    (599, b"", None, RETRY, {}),
    (408, b"", None, RETRY, {}),
]


@pytest.mark.parametrize(("status", "body", "retry_after", "action", "extra"), HTTP_CASES)
def test_http(
    status: int, body: bytes, retry_after: str | None, action: Action, extra: dict[str, Any]
) -> None:
    verdict = codes.classify_http(status, body, retry_after)
    assert verdict is not None
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


@pytest.mark.parametrize("status", [200, 201, 204])
def test_http_success_is_none(status: int) -> None:
    assert codes.classify_http(status, b"{}") is None


def test_http_429_retry_after_as_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    verdict = codes.classify_http(429, b"", format_datetime(when, usegmt=True))
    assert verdict is not None and verdict.action is THR
    assert verdict.retry_after == pytest.approx(120, abs=3)


RETRY_AFTER_CASES: list[tuple[str | None, float]] = [
    ("10", 10.0),
    (" 7 ", 7.0),
    ("-5", 0.0),
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
    ("not a date", 1.0),
    ("", 1.0),
    (None, 1.0),
]


@pytest.mark.parametrize(("header", "seconds"), RETRY_AFTER_CASES)
def test_parse_retry_after(header: str | None, seconds: float) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, 1.0, now=now) == pytest.approx(seconds)


# ------------------------------------------------------------------ transport failures
# ------------------------------------------------------------------ normalized states


def test_coverage_figures() -> None:
    assert codes.COVERAGE["ants_2018_status"] == 26
    assert codes.COVERAGE["ants_2018_error"] == 86
    assert codes.COVERAGE["ants_new_codes"] == 111


def test_http_5xx_with_unusable_retry_after_leaves_the_delay_to_the_worker() -> None:
    verdict = codes.classify_http(503, b"", "later")
    assert verdict is not None
    assert (verdict.action, verdict.retry_after) == (RETRY, None)


def test_http_400_with_hostile_xml_body_is_not_parsed() -> None:
    body = b'<!DOCTYPE x [<!ENTITY e "boom">]><requestError><text>&e;</text></requestError>'
    verdict = codes.classify_http(400, body)
    assert verdict is not None and verdict.action is PERM
    assert verdict.description != "boom"  # the entity was not expanded
