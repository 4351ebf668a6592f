"""SMSC.ru code tables: every seed code, as declarative cases.

Typed from /work/shared/seeds/smsc-status-and-errors.txt; the status and `err` rows that
the seed extract does not contain are checked apart.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from workers.providers.base import Action
from workers.providers.classify import reset_unknown_log
from workers.providers.smsc import codes

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
    caplog.set_level(logging.WARNING, logger="workers.providers.codes")
    assert codes.classify_error(code).action is A.RETRY
    assert codes.classify_error(code).action is A.RETRY
    assert len(caplog.records) == 1


# (status, normalized state, final)
STATUS_CASES: list[tuple[int, str, bool]] = [
    (-3, "pending", False),  # in the seed: not found / archived
]
# not in the seed extract: SMSC.ru's public status list
PUBLIC_STATUS_CASES: list[tuple[int, str, bool]] = [
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
        "smsc_statuses": 12,
        "smsc_statuses_in_seed": 1,
        "smsc_err_codes": 10,
        "smsc_err_codes_in_seed": 0,
    }
