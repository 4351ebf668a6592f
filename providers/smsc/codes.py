"""SMSC.ru code tables, as data, and error classification.

Source: /work/shared/seeds/smsc-status-and-errors.txt (the status API).  It lists the
request error codes 1, 2, 4, 5 and 9 and, of the message statuses, only -3 (not found /
archived); the full status and `err` lists are links the extract does not contain.
`STATUSES` and `ERRORS` therefore also carry rows from SMSC's public documentation;
`SEED_STATUS_CODES` and `SEED_ERR_CODES` name the ones the seed itself has.

`send.php` has an error table of its own (the same numbers mean other things there:
5 is a bad date, not a failed delete), from SMSC's public HTTP API page
(smsc.ru/api/http/send/, quoted by the public client libraries, see
`providers/smsc/sender.py`): `SEND_ERRORS`.  `classify_http` covers answers that are
not SMSC's own (SMSC answers its errors with HTTP 200; anything else comes from a proxy,
a wrong URL or the server itself), and `classify_message` the state of one message
(a number in the send answer's `phones` list, or a status answer asked by `lookup`).
"""

from __future__ import annotations

from core.errors import GatewayError
from providers.base import Action, CodeRow, StateRow, Verdict
from providers.classify import (
    http_rows,
    index,
    log_unknown_once,
    parse_retry_after,
    retry_after_seconds,
    to_verdict,
    unknown_verdict,
)

A = Action

IP_BLOCK_DELAY = 600.0  # error 4: the IP is blocked "temporarily"; wait long
TOO_MANY_DELAY = 60.0  # error 9: the limits are per minute (SMSC_WINDOW_S says how long)
TOO_MANY = "9"
FOUND = "SMSC has it (status.php)"

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
        TOO_MANY,
        "TOO_MANY_REQUESTS",
        A.THROTTLED,
        "Too many status / mass requests per minute, or too many concurrent requests",
        retry_after=TOO_MANY_DELAY,
    ),
)

REQUEST_ERRORS: dict[str, CodeRow] = index(ERROR_ROWS)

NOT_FOUND = -3
# Every message status (status.php `status`; -3 is the seed's, the rest SMSC.ru's public
# list, smsc.ru/api/http/status_messages/statuses/, quoted word for word by public client
# libraries), and whether SMSC had taken the message when a status answer says it.
STATUSES: dict[int, StateRow] = {
    NOT_FOUND: StateRow("not_found", "pending", False),  # not found, or in the archive
    -2: StateRow("stopped", "accepted", False),  # a mailing stopped before they left
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
SEED_STATUS_CODES: frozenset[int] = frozenset({NOT_FOUND})
# Taken: SMSC has it and sent it, is sending it, or holds it to send (-2: a stopped mailing
# can be resumed); a final one was sent and billed ("the fee is charged for all messages
# transmitted to operators, regardless of their delivery status": smscentre.com FAQ 98, on
# 20).  Not taken: -3 (SMSC does not know it) and the refusals before sending: 22 "wrong
# format of the number", 23 "the message is not sent ... the money is not withdrawn" (FAQ
# 95), 24 "not enough money on the account to send the message".  25, "the number does not
# accept SMS, or there is no working route to its operator", reads both ways (a route known
# missing before sending, or a number found unable by trying): found by a status request
# it counts as taken, the least favourable reading (a final outcome, never "failed" for a
# message that may have been billed); listed in a send answer it is a refusal (REFUSED).
TAKEN_STATUSES: frozenset[int] = frozenset({-2, -1, 0, 1, 2, 3, 4, 20, 25})

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

# send.php's own error codes (smsc.ru/api/http/send/): 1-9, each for the whole request.
# A request refused as a whole for a reason about the account or the request itself
# pauses the campaign (FATAL, or PERMANENT without destinations named: see
# providers.http.error_for); 7 and 8 are about the numbers: `NUMBER_ERRORS` fail the
# destinations of that request (SMSC answers them for a request only when none of its
# numbers can be used; otherwise the bad numbers are listed in `phones`).
SEND_ERROR_ROWS: tuple[CodeRow, ...] = (
    CodeRow("1", "BAD_PARAMETERS", A.PERMANENT, "Error in parameters (the request itself)"),
    CodeRow("2", "BAD_LOGIN", A.FATAL, "Invalid login or password, or IP address not allowed"),
    CodeRow("3", "NO_FUNDS", A.FATAL, "Not enough funds on the account"),
    CodeRow("4", "IP_BLOCKED", A.FATAL, "IP address temporarily blocked after frequent errors"),
    CodeRow("5", "BAD_DATE", A.PERMANENT, "Invalid date format"),
    CodeRow("6", "FORBIDDEN", A.PERMANENT, "Message forbidden (by its text or sender name)"),
    CodeRow("7", "BAD_NUMBER", A.PERMANENT, "Invalid phone number format"),
    CodeRow("8", "UNDELIVERABLE_NUMBER", A.PERMANENT, "Cannot be delivered to this number"),
    CodeRow(
        TOO_MANY,
        "TOO_MANY_REQUESTS",
        A.THROTTLED,
        "The same send request twice within a minute, or too many concurrent requests",
        retry_after=TOO_MANY_DELAY,
    ),
)
SEND_ERRORS: dict[str, CodeRow] = index(SEND_ERROR_ROWS)
NUMBER_ERRORS: frozenset[str] = frozenset({"7", "8"})

# HTTP statuses: SMSC answers its own errors with 200; others come from proxies, a wrong
# SMSC_BASE_URL or a failing server.
HTTP_ROWS: tuple[CodeRow, ...] = http_rows("SMSC_BASE_URL")
HTTP_BY_STATUS: dict[str, CodeRow] = index(HTTP_ROWS)

# The verdict of a refusal status (not taken; or 25 in a send answer, which names the bad
# numbers at once, at no cost): the number (22 suppressed, 23, 25) or the account (24:
# pause, resend after a top-up).
REFUSED_ROWS: tuple[CodeRow, ...] = (
    CodeRow("22", "INVALID_NUMBER", A.PERMANENT, "Invalid number", suppress=True),
    CodeRow("23", "PROHIBITED", A.PERMANENT, "Prohibited (stop list or blocked)"),
    CodeRow("24", "NO_FUNDS", A.FATAL, "Not enough funds on the account"),
    CodeRow("25", "UNAVAILABLE_NUMBER", A.PERMANENT, "Number takes no SMS, or no route to it"),
)
REFUSED: dict[str, CodeRow] = index(REFUSED_ROWS)
SUPPRESS_STATUSES: frozenset[int] = frozenset(int(r.code) for r in REFUSED_ROWS if r.suppress)

COVERAGE: dict[str, int] = {
    "smsc_request_errors": len(REQUEST_ERRORS),
    "smsc_send_errors": len(SEND_ERRORS),
    "smsc_statuses": len(STATUSES),
    "smsc_statuses_in_seed": len(SEED_STATUS_CODES),
    "smsc_err_codes": len(ERRORS),
    "smsc_err_codes_in_seed": len(SEED_ERR_CODES),
}


def in_window(exc: GatewayError, window_s: float) -> GatewayError:
    """Error 9 waits out SMSC's minute, which lasts `window_s` (SMSC_WINDOW_S): the rows
    say TOO_MANY_DELAY, the minute of the real gateway."""
    if exc.code == TOO_MANY:
        exc.retry_after = window_s
    return exc


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


def classify_send_error(code: int | str) -> Verdict:
    """Classify a send.php error `N` (`{"error": ..., "error_code": N}`)."""
    text = str(code).strip().lstrip("-")
    row = SEND_ERRORS.get(text)
    if row is not None:
        return to_verdict(row)
    log_unknown_once("smsc-send", text)
    return unknown_verdict(A.RETRY, text, "", "default (no class known)")


def classify_http(status: int, retry_after: str | None = None) -> Verdict | None:
    """A whole-request HTTP answer; None for a 2xx (SMSC's own answer: read the body)."""
    if 200 <= status < 300:
        return None
    row = HTTP_BY_STATUS.get(str(status))
    if row is None:
        action = A.FATAL if 400 <= status < 500 else A.RETRY
        row = CodeRow(str(status), f"HTTP_{status}", action, "unexpected HTTP status")
    wait: float | None = None
    if row.action is A.THROTTLED:
        wait = parse_retry_after(retry_after, row.retry_after or 1.0)
    elif row.action is A.RETRY:
        wait = retry_after_seconds(retry_after)
    return to_verdict(row, retry_after=wait)


def classify_message(status: int | str | None, err: int | str | None = None) -> Verdict:
    """What one message's `status` (and `err`) in a send answer says: ACCEPTED (the gateway
    has it), or the refusal.  A status no table knows: ACCEPTED when the gateway reports no
    error (it knows the message, so it has it), else the `err` code decides."""
    err_text = "" if err is None else str(err).strip()
    status_text = "" if status is None else str(status).strip()
    row = REFUSED.get(status_text.lstrip("+"))
    if row is not None:
        return to_verdict(row)
    code = _status_code(status_text)
    if code in TAKEN_STATUSES or err_text in ("", "0"):
        name = STATUSES[code].name.upper() if code in STATUSES else "ACCEPTED"
        return Verdict(A.ACCEPTED, status_text, name)
    return classify_err(err_text)


def classify_found(status: int | str, err: int | str | None = None) -> tuple[Verdict, str]:
    """What a status answer says of a message whose send outcome is unknown (other than
    NOT_FOUND, which says nothing was taken): the verdict, and the delivery state of a
    message taken and already final ("" otherwise).  Taken: ALREADY_DONE; a refusal: its
    verdict; a status no table knows: as `classify_message` reads it (ACCEPTED becomes
    ALREADY_DONE)."""
    status_text = str(status).strip()
    code = _status_code(status_text)
    if code in TAKEN_STATUSES:
        row = STATUSES[code]
        verdict = Verdict(A.ALREADY_DONE, status_text, row.name.upper(), FOUND)
        return verdict, row.state if row.final else ""
    verdict = classify_message(status_text, err)
    if verdict.action is A.ACCEPTED:
        verdict = Verdict(A.ALREADY_DONE, verdict.code, verdict.name, FOUND)
    return verdict, ""


def _status_code(text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
