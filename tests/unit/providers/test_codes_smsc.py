"""SMSC.ru code tables: every seed code, as declarative cases.

Typed from /work/shared/seeds/smsc-status-and-errors.txt; the status and `err` rows that
the seed extract does not contain are checked apart.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from config.settings import Settings
from providers.base import Action, Verdict
from providers.classify import reset_unknown_log
from providers.smsc import codes

A = Action


@pytest.fixture(autouse=True)
def _fresh_unknown_log() -> None:
    reset_unknown_log()


# the answer as the gateway writes it, and what we expect
ERROR_CASES: list[tuple[int | str, Action, dict[str, Any]]] = [
    (1, A.PERMANENT, {"suppress": False}),  # error in parameters
    (2, A.FATAL, {}),  # bad login / IP not allowed
    (4, A.RETRY, {"retry_after": 600.0}),  # IP temporarily blocked: long wait
    (5, A.PERMANENT, {}),  # error deleting a message
    (9, A.THROTTLED, {"retry_after": 60.0}),  # too many concurrent / per-minute requests
    ("-9", A.THROTTLED, {"code": "9"}),  # fmt=1 answers "0,-9"
    (" 2 ", A.FATAL, {"code": "2"}),
]


@pytest.mark.parametrize(("code", "action", "extra"), ERROR_CASES)
def test_request_error(code: int | str, action: Action, extra: dict[str, Any]) -> None:
    verdict = codes.classify_error(code)
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


def test_request_error_table_is_the_seed() -> None:
    assert set(codes.REQUEST_ERRORS) == {"1", "2", "4", "5", "9"}


@pytest.mark.parametrize("code", [3, 7, 42])
def test_unknown_request_error_retries_and_logs_once(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="providers.codes")
    assert codes.classify_error(code).action is A.RETRY
    assert codes.classify_error(code).action is A.RETRY
    assert len(caplog.records) == 1


# (status, normalized state, final)
STATUS_CASES: list[tuple[int, str, bool]] = [
    (-3, "pending", False),  # in the seed: not found / archived
]
# not in the seed extract: SMSC.ru's public status list
PUBLIC_STATUS_CASES: list[tuple[int, str, bool]] = [
    (-2, "accepted", False),
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
]


@pytest.mark.parametrize(("code", "state", "final"), STATUS_CASES + PUBLIC_STATUS_CASES)
def test_status(code: int, state: str, final: bool) -> None:
    _, got_state, got_final = codes.STATUSES[code]
    assert (got_state, got_final) == (state, final)


def test_status_table_and_seed_marking() -> None:
    assert set(codes.STATUSES) == {c for c, _, _ in STATUS_CASES + PUBLIC_STATUS_CASES}
    assert {c for c, _, _ in STATUS_CASES} == codes.SEED_STATUS_CODES
    assert {22} == codes.SUPPRESS_STATUSES


# delivery `err` codes (none in the seed extract)
ERR_CASES: list[tuple[int, Action, dict[str, Any]]] = [
    (0, A.ACCEPTED, {}),
    (1, A.PERMANENT, {"suppress": True}),
    (6, A.RETRY, {}),
    (11, A.PERMANENT, {"suppress": False}),
    (12, A.RETRY, {}),
    (13, A.PERMANENT, {"suppress": False}),
    (21, A.PERMANENT, {}),
    (200, A.ACCEPTED, {}),
    (219, A.RETRY, {"retry_after": 86400.0}),
    (220, A.RETRY, {}),
    (255, A.RETRY, {"description": "unknown code, classified by default (no class known)"}),
]


@pytest.mark.parametrize(("code", "action", "extra"), ERR_CASES)
def test_err(code: int, action: Action, extra: dict[str, Any]) -> None:
    verdict = codes.classify_err(code)
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


def test_coverage_figures() -> None:
    assert codes.COVERAGE == {
        "smsc_request_errors": 5,
        "smsc_send_errors": 9,
        "smsc_statuses": 13,
        "smsc_statuses_in_seed": 1,
        "smsc_err_codes": 10,
        "smsc_err_codes_in_seed": 0,
    }


# send.php's own error table (smsc.ru/api/http/send/): the same numbers as status.php's, other
# meanings (5 is a bad date there)
SEND_ERROR_CASES: list[tuple[int | str, Action, dict[str, Any]]] = [
    (1, A.PERMANENT, {"name": "BAD_PARAMETERS"}),  # the request itself: pauses (no ids named)
    (2, A.FATAL, {}),
    (3, A.FATAL, {"name": "NO_FUNDS"}),
    (4, A.FATAL, {"name": "IP_BLOCKED"}),
    (5, A.PERMANENT, {"name": "BAD_DATE"}),
    (6, A.PERMANENT, {"name": "FORBIDDEN"}),
    (7, A.PERMANENT, {"name": "BAD_NUMBER"}),
    (8, A.PERMANENT, {"name": "UNDELIVERABLE_NUMBER"}),
    (9, A.THROTTLED, {"retry_after": 60.0}),
    ("-9", A.THROTTLED, {"code": "9"}),
    (42, A.RETRY, {"description": "unknown code, classified by default (no class known)"}),
]


@pytest.mark.parametrize(("code", "action", "extra"), SEND_ERROR_CASES)
def test_send_error(code: int | str, action: Action, extra: dict[str, Any]) -> None:
    verdict = codes.classify_send_error(code)
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


def test_send_error_table_and_number_errors() -> None:
    assert set(codes.SEND_ERRORS) == {str(n) for n in range(1, 10)}
    assert sorted(codes.NUMBER_ERRORS) == ["7", "8"]


@pytest.mark.parametrize(
    ("status", "retry_after", "action", "wait"),
    [
        (200, None, None, None),
        (404, None, A.FATAL, None),
        (401, None, A.FATAL, None),
        (418, None, A.FATAL, None),  # another 4xx: cannot succeed as configured
        (429, "7", A.THROTTLED, 7.0),
        (429, None, A.THROTTLED, 1.0),
        (500, None, A.RETRY, None),
        (503, "30", A.RETRY, 30.0),
        (599, None, A.RETRY, None),
    ],
)
def test_http_status(
    status: int, retry_after: str | None, action: Action | None, wait: float | None
) -> None:
    verdict = codes.classify_http(status, retry_after)
    if action is None:
        assert verdict is None
        return
    assert verdict is not None and verdict.action is action and verdict.retry_after == wait


# one message's status (a `phones` entry of the send answer, or a status answer)
MESSAGE_CASES: list[tuple[object, object, Action, dict[str, Any]]] = [
    (None, None, A.ACCEPTED, {}),  # listed without an error
    ("0", "0", A.ACCEPTED, {}),
    (-1, 0, A.ACCEPTED, {"name": "WAITING"}),
    (1, 0, A.ACCEPTED, {}),
    (20, 6, A.ACCEPTED, {}),  # sent, not delivered: the gateway had it
    (3, 0, A.ACCEPTED, {}),  # expired: sent
    ("22", "1", A.PERMANENT, {"suppress": True}),
    (23, 0, A.PERMANENT, {"suppress": False}),
    (24, 0, A.FATAL, {}),  # no funds: pause, resend after a top-up
    (25, 0, A.PERMANENT, {}),
    (None, "1", A.PERMANENT, {"suppress": True}),  # only an err code: its row
    (77, "6", A.RETRY, {}),  # a status no table knows, with an error: the err decides
    (77, "0", A.ACCEPTED, {}),  # ... without one: the gateway has it
]


@pytest.mark.parametrize(("status", "err", "action", "extra"), MESSAGE_CASES)
def test_message_status(status: object, err: object, action: Action, extra: dict[str, Any]) -> None:
    verdict = codes.classify_message(status, err)  # type: ignore[arg-type]
    assert verdict.action is action
    for field, value in extra.items():
        assert getattr(verdict, field) == value


def test_taken_and_refused_statuses_cover_the_status_table() -> None:
    assert codes.TAKEN_STATUSES | {int(c) for c in codes.REFUSED} | {codes.NOT_FOUND} == set(
        codes.STATUSES
    )


# A status answer about a message whose send outcome is unknown (a lookup): every row of
# the status table, -3 to 25.  (status, err) -> (taken, verdict, state recorded after
# `accepted` for a message taken and already final).  -3 is "absent" (the sender skips it).
FOUND_CASES: list[tuple[int, int, bool, Action, str]] = [
    (-2, 0, True, A.ALREADY_DONE, ""),  # a stopped mailing: SMSC holds it
    (-1, 0, True, A.ALREADY_DONE, ""),  # waiting to be sent
    (0, 0, True, A.ALREADY_DONE, ""),  # handed to the operator
    (1, 0, True, A.ALREADY_DONE, "delivered"),
    (2, 0, True, A.ALREADY_DONE, "delivered"),  # read
    (3, 0, True, A.ALREADY_DONE, "expired"),
    (4, 0, True, A.ALREADY_DONE, "delivered"),  # link clicked
    (20, 6, True, A.ALREADY_DONE, "undeliverable"),  # sent and billed (FAQ 98)
    (22, 1, False, A.PERMANENT, ""),  # wrong number format: never sent
    (23, 0, False, A.PERMANENT, ""),  # not sent, not charged (FAQ 95)
    (24, 0, False, A.FATAL, ""),  # no money to send it: pause, resend after a top-up
    (25, 11, True, A.ALREADY_DONE, "undeliverable"),  # may have been tried: least favourable
]


@pytest.mark.parametrize(("status", "err", "taken", "action", "state"), FOUND_CASES)
def test_found_status(status: int, err: int, taken: bool, action: Action, state: str) -> None:
    verdict, got_state = codes.classify_found(str(status), err)
    assert (status in codes.TAKEN_STATUSES, verdict.action, got_state) == (taken, action, state)
    assert verdict.code == str(status)
    if taken and codes.STATUSES[status].final:
        assert got_state == codes.STATUSES[status].state


def test_found_cases_cover_every_status_but_not_found() -> None:
    assert {c for c, *_ in FOUND_CASES} | {codes.NOT_FOUND} == set(codes.STATUSES)
    assert codes.NOT_FOUND not in codes.TAKEN_STATUSES


def test_found_status_no_table_knows() -> None:
    """Read as a send answer's would be: known to the gateway without an error, it has it."""
    found = Verdict(A.ALREADY_DONE, "77", "ACCEPTED", codes.FOUND)
    assert codes.classify_found("77", "0") == (found, "")
    assert codes.classify_found("77", "6")[0].action is A.RETRY


def test_the_smsc_profile_and_spec() -> None:
    from providers import registry

    spec = registry.get("smsc")
    p = spec.profile
    assert spec.own_ids and not p.rejects_reused_ids
    assert (p.concurrency, p.max_validity_minutes, p.max_batch) == (4, 1440, 1000)
    assert p.flood_varied is None and p.flood_identical is None
    assert p.check_sender("InfoSMS") and p.check_sender("Shop Name 1")
    assert p.check_sender("123456789012345") and not p.check_sender("1234567890123456")
    assert not p.check_sender("TwelveLetter") and not p.check_sender(" Shop")
    assert p.too_long("x" * 1001) and not p.too_long("x" * 1000)
    assert spec.configured(Settings(smsc_login="a", smsc_password="b"))
    assert not spec.configured(Settings())
