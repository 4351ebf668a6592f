"""SMSC.ru code tables, as data, and error classification.

Source: /work/shared/seeds/smsc-status-and-errors.txt (the status API).  It lists the
request error codes 1, 2, 4, 5 and 9 and, of the message statuses, only -3 (not found /
archived); the full status and `err` lists are links the extract does not contain.
`STATUSES` and `ERRORS` therefore also carry rows from SMSC's public documentation;
`SEED_STATUS_CODES` and `SEED_ERR_CODES` name the ones the seed itself has.
"""

from __future__ import annotations

from workers.providers.base import Action, CodeRow, StateRow, Verdict
from workers.providers.classify import index, log_unknown_once, to_verdict, unknown_verdict

A = Action

IP_BLOCK_DELAY = 600.0  # error 4: the IP is blocked "temporarily"; wait long
TOO_MANY_DELAY = 60.0  # error 9: the limits are per minute

ERROR_ROWS: tuple[CodeRow, ...] = (
    CodeRow("1", "BAD_PARAMETERS", A.PERMANENT, "Error in parameters"),
    CodeRow("2", "BAD_LOGIN", A.FATAL, "Invalid login or password, or IP not allowed"),
    CodeRow(
        "4",
        "IP_BLOCKED",
        A.RETRY,
        "The IP address is temporarily blocked",
        retry_after=IP_BLOCK_DELAY,
    ),
    CodeRow("5", "DELETE_FAILED", A.PERMANENT, "Error deleting a message"),
    CodeRow(
        "9",
        "TOO_MANY_REQUESTS",
        A.THROTTLED,
        "Too many status / mass requests per minute, or too many concurrent requests",
        retry_after=TOO_MANY_DELAY,
    ),
)

REQUEST_ERRORS: dict[str, CodeRow] = index(ERROR_ROWS)

STATUSES: dict[int, StateRow] = {
    -3: StateRow("not_found", "pending", False),  # not found, or in the archive
    # not in the seed extract: SMSC.ru's public status list
    -1: StateRow("waiting", "accepted", False),  # queued at SMSC, not yet sent
    0: StateRow("sent_to_operator", "pending", False),
    1: StateRow("delivered", "delivered", True),
    2: StateRow("read", "delivered", True),
    3: StateRow("expired", "expired", True),
    4: StateRow("link_clicked", "delivered", True),
    20: StateRow("undeliverable", "undeliverable", True),
    22: StateRow("invalid_number", "rejected", True),
    23: StateRow("prohibited", "rejected", True),
    24: StateRow("insufficient_funds", "rejected", True),
    25: StateRow("unavailable_number", "undeliverable", True),
}
SEED_STATUS_CODES: frozenset[int] = frozenset({-3})
SUPPRESS_STATUSES: frozenset[int] = frozenset({22})

# `err` delivery error codes; none are in the seed extract (it links to the list).
# These are from SMSC's public error page (smscentre.com/api/smpp/errors).
ERR_ROWS: tuple[CodeRow, ...] = (
    CodeRow("0", "NO_ERROR", A.ACCEPTED, "No error"),
    CodeRow("1", "SUBSCRIBER_NOT_EXIST", A.PERMANENT, "The number does not exist", suppress=True),
    CodeRow("6", "SUBSCRIBER_OFFLINE", A.RETRY, "Phone off or out of range"),
    CodeRow("11", "SERVICE_NOT_CONNECTED", A.PERMANENT, "Subscriber cannot accept SMS"),
    CodeRow("12", "PHONE_ERROR", A.RETRY, "Error in the subscriber's phone or SIM"),
    CodeRow("13", "SUBSCRIBER_BLOCKED", A.PERMANENT, "Subscriber is blocked"),
    CodeRow("21", "SERVICE_NOT_SUPPORTED", A.PERMANENT, "Device does not support the service"),
    CodeRow("200", "VIRTUAL_SEND", A.ACCEPTED, "Test mode: virtual sending"),
    CodeRow(
        "219",
        "SIM_REPLACED",
        A.RETRY,
        "SIM replaced: alpha senders blocked for 24 h",
        retry_after=86400.0,
    ),
    CodeRow("220", "OPERATOR_QUEUE_FULL", A.RETRY, "Operator's queue for the subscriber full"),
)
ERRORS: dict[str, CodeRow] = index(ERR_ROWS)
SEED_ERR_CODES: frozenset[str] = frozenset()

COVERAGE: dict[str, int] = {
    "smsc_request_errors": len(REQUEST_ERRORS),
    "smsc_statuses": len(STATUSES),
    "smsc_statuses_in_seed": len(SEED_STATUS_CODES),
    "smsc_err_codes": len(ERRORS),
    "smsc_err_codes_in_seed": len(SEED_ERR_CODES),
}


def classify_error(code: int | str) -> Verdict:
    """Classify a request error `N` (`ERROR = N`, `0,-N`, `error_code: N`)."""
    text = str(code).strip().lstrip("-")
    row = REQUEST_ERRORS.get(text)
    if row is not None:
        return to_verdict(row)
    log_unknown_once("smsc", text)
    return unknown_verdict(A.RETRY, text, "", "default (no class known)")


def classify_err(code: int | str) -> Verdict:
    """Classify a delivery `err` code from a status answer."""
    text = str(code).strip()
    row = ERRORS.get(text)
    if row is not None:
        return to_verdict(row)
    log_unknown_once("smsc-err", text)
    return unknown_verdict(A.RETRY, text, "", "default (no class known)")
