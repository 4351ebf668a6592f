"""SmsManager code tables: every seed code, as declarative cases.

Typed from /work/shared/seeds/smsmanager-return-codes.txt (Czech).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from providers.base import Action
from providers.classify import reset_unknown_log
from providers.smsmanager import codes

A = Action


@pytest.fixture(autouse=True)
def _fresh_unknown_log() -> None:
    reset_unknown_log()


# (code, HTTP status from the document, action, expected fields)
ERROR_CASES: list[tuple[int | str, int | None, Action, dict[str, Any]]] = [
    (101, 400, A.PERMANENT, {"suppress": False}),
    (102, 400, A.PERMANENT, {"suppress": False}),
    (103, 401, A.FATAL, {}),  # bad username or password
    (104, 400, A.FATAL, {}),  # invalid `gateway` parameter: account configuration
    (105, 402, A.FATAL, {}),  # not enough prepaid credit
    (109, 400, A.PERMANENT, {"suppress": False}),
    (201, 400, A.PERMANENT, {"suppress": True}),  # no valid phone number
    (202, 400, A.PERMANENT, {"suppress": False}),  # text missing or too long
    (203, 400, A.FATAL, {}),  # invalid sender
    (900, 500, A.RETRY, {"code": "900", "name": "SYSTEM_ERROR"}),
    (901, 500, A.RETRY, {"code": "901"}),
    ("999", 500, A.RETRY, {"code": "999"}),
    (503, 503, A.RETRY, {"name": "SERVICE_UNAVAILABLE"}),
    (" 103 ", None, A.FATAL, {"code": "103"}),
]


@pytest.mark.parametrize(("code", "http", "action", "extra"), ERROR_CASES)
def test_error(code: int | str, http: int | None, action: Action, extra: dict[str, Any]) -> None:
    verdict = codes.classify_error(code, http)
    assert verdict.action is action
    assert verdict.retryable is (action is A.RETRY)
    for field, value in extra.items():
        assert getattr(verdict, field) == value


@pytest.mark.parametrize(("code", "http", "action", "extra"), ERROR_CASES[:9])
def test_error_rows_record_the_documented_http_status(
    code: int, http: int, action: Action, extra: dict[str, Any]
) -> None:
    assert codes.ERRORS[str(code)].http_status == http


SEED_ERROR_CODES = {"101", "102", "103", "104", "105", "109", "201", "202", "203", "9xx", "503"}


def test_error_table_is_the_seed() -> None:
    assert set(codes.ERRORS) == SEED_ERROR_CODES


# unknown codes: by the 9xx range, else by HTTP status, else 1xx-2xx client errors
UNKNOWN_CASES: list[tuple[int | str, int | None, Action]] = [
    (110, 400, A.PERMANENT),
    (299, None, A.PERMANENT),
    (150, None, A.PERMANENT),
    (777, None, A.RETRY),
    (777, 500, A.RETRY),
    (106, 401, A.FATAL),
    (106, 402, A.FATAL),
    (106, 429, A.THROTTLED),
    (42, None, A.RETRY),
]


@pytest.mark.parametrize(("code", "http", "action"), UNKNOWN_CASES)
def test_unknown_error(code: int | str, http: int | None, action: Action) -> None:
    verdict = codes.classify_error(code, http)
    assert (verdict.action, verdict.code) == (action, str(code))


def test_unknown_error_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="providers.codes")
    for _ in range(4):
        codes.classify_error(110, 400)
    codes.classify_error(901, 500)  # known (9xx): not logged
    assert len(caplog.records) == 1
    assert "smsmanager" in caplog.records[0].getMessage()


# (code, normalized state, final) -- "Finální stav" Ano/Ne from the document
REQUEST_STATE_CASES: list[tuple[int, str, bool]] = [
    (0, "pending", False),
    (1, "pending", False),
    (2, "pending", True),  # sent: the request is done, the receipt tells delivery
    (3, "pending", False),
    (4, "rejected", True),
    (5, "pending", False),
    (6, "rejected", True),
    (7, "rejected", True),
    (9, "pending", False),
]
RECEIPT_STATE_CASES: list[tuple[int, str, bool]] = [
    (0, "accepted", False),
    (1, "pending", False),
    (2, "delivered", True),
    (3, "undeliverable", True),
    (4, "pending", False),
    (5, "pending", False),
    (6, "expired", True),
    (7, "rejected", True),
    (8, "undeliverable", True),
]


@pytest.mark.parametrize(("code", "state", "final"), REQUEST_STATE_CASES)
def test_request_state(code: int, state: str, final: bool) -> None:
    name, got_state, got_final = codes.REQUEST_STATES[code]
    assert (got_state, got_final) == (state, final)
    assert name


@pytest.mark.parametrize(("code", "state", "final"), RECEIPT_STATE_CASES)
def test_receipt_state(code: int, state: str, final: bool) -> None:
    name, got_state, got_final = codes.RECEIPT_STATES[code]
    assert (got_state, got_final) == (state, final)
    assert name


def test_state_tables_are_exactly_the_seed() -> None:
    assert set(codes.REQUEST_STATES) == {c for c, _, _ in REQUEST_STATE_CASES}
    assert set(codes.RECEIPT_STATES) == {c for c, _, _ in RECEIPT_STATE_CASES}
    # the document's own names for request states
    documented = {1: "sending", 2: "sent", 4: "invalid", 5: "failed", 7: "rejected"}
    assert {c: codes.REQUEST_STATES[c].name for c in documented} == documented


def test_invalid_number_receipt_suppresses() -> None:
    assert {7} == codes.SUPPRESS_RECEIPT_STATES


def test_coverage_figures() -> None:
    assert codes.COVERAGE == {
        "smsmanager_request_states": 9,
        "smsmanager_receipt_states": 9,
        "smsmanager_errors": 11,
    }


def test_row_of_and_error_name_know_every_9xx() -> None:
    from providers.smsmanager import error_name

    assert (
        codes.row_of("901") is codes.ERRORS["9xx"] and codes.row_of(" 103 ") is codes.ERRORS["103"]
    )
    assert codes.row_of("110") is None
    assert (error_name("999"), error_name("105"), error_name("110")) == (
        "SYSTEM_ERROR",
        "NO_CREDIT",
        "",
    )
