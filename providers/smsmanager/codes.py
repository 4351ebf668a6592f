"""SmsManager (smsmanager.cz) code tables, as data, and error classification.

Source: /work/shared/seeds/smsmanager-return-codes.txt (Czech).  Request states 0-9
(8 is not listed), delivery-receipt states 0-8, error codes 101-109 and 201-203
(client errors, HTTP 4xx, never retry), 9xx (server errors, HTTP 500, retry) and 503
(retry).  Names in the document exist only for some request states; the others are ours.
"""

from __future__ import annotations

from providers.base import Action, CodeRow, StateRow, Verdict
from providers.classify import index, log_unknown_once, to_verdict, unknown_verdict

A = Action

REQUEST_STATES: dict[int, StateRow] = {
    0: StateRow("waiting", "pending", False),  # čeká na odeslání
    1: StateRow("sending", "pending", False),
    2: StateRow("sent", "pending", True),  # final for the request; delivery is in receipts
    3: StateRow("partially_sent", "pending", False),
    4: StateRow("invalid", "rejected", True),  # invalid data / invalid numbers
    5: StateRow("failed", "pending", False),  # cannot send now, will be retried
    6: StateRow("cancelled", "rejected", True),  # cancelled by the user
    7: StateRow("rejected", "rejected", True),  # cancelled by the system: expired / failed
    9: StateRow("processing", "pending", False),
}

RECEIPT_STATES: dict[int, StateRow] = {
    0: StateRow("no_receipt", "accepted", False),
    1: StateRow("delivering", "pending", False),
    2: StateRow("delivered", "delivered", True),
    3: StateRow("not_delivered", "undeliverable", True),
    4: StateRow("uncertain", "pending", False),
    5: StateRow("waiting", "pending", False),  # phone memory full, phone off, ...
    6: StateRow("expired", "expired", True),
    7: StateRow("invalid_number", "rejected", True),
    8: StateRow("not_delivered_contact_us", "undeliverable", True),
}

# receipt states that say the NUMBER is bad: add it to the suppression set
SUPPRESS_RECEIPT_STATES: frozenset[int] = frozenset({7})

SERVER_ERROR = "9xx"  # the document gives the 900-999 range one row

ERROR_ROWS: tuple[CodeRow, ...] = (
    CodeRow(
        "101", "NO_REQUEST_DATA", A.PERMANENT, "Request data missing (no XMLDATA)", http_status=400
    ),
    CodeRow("102", "BAD_FORMAT", A.PERMANENT, "Data not in the correct format", http_status=400),
    CodeRow("103", "BAD_CREDENTIALS", A.FATAL, "Invalid username or password", http_status=401),
    CodeRow("104", "BAD_GATEWAY_PARAM", A.FATAL, "Invalid 'gateway' parameter", http_status=400),
    CodeRow("105", "NO_CREDIT", A.FATAL, "Not enough prepaid credit", http_status=402),
    CodeRow("109", "MISSING_DATA", A.PERMANENT, "Required data missing", http_status=400),
    CodeRow(
        "201",
        "NO_VALID_NUMBER",
        A.PERMANENT,
        "No valid phone numbers in the request",
        suppress=True,
        http_status=400,
    ),
    CodeRow("202", "BAD_TEXT", A.PERMANENT, "Message text missing or too long", http_status=400),
    CodeRow(
        "203",
        "BAD_SENDER",
        A.FATAL,
        "Invalid 'sender' (set it up in the web UI first)",
        http_status=400,
    ),
    CodeRow(SERVER_ERROR, "SYSTEM_ERROR", A.RETRY, "System error", http_status=500),
    CodeRow(
        "503",
        "SERVICE_UNAVAILABLE",
        A.RETRY,
        "Not accepted: server error / 30 s timeout",
        http_status=503,
    ),
)

ERRORS: dict[str, CodeRow] = index(ERROR_ROWS)

COVERAGE: dict[str, int] = {
    "smsmanager_request_states": len(REQUEST_STATES),
    "smsmanager_receipt_states": len(RECEIPT_STATES),
    "smsmanager_errors": len(ERRORS),
}


def _key(code: int | str) -> str:
    text = str(code).strip()
    if text.isdigit() and len(text) == 3 and text.startswith("9") and text != "503":
        return SERVER_ERROR
    return text


def row_of(code: int | str) -> CodeRow | None:
    """The table row of an error code (any 9xx is the SYSTEM_ERROR row); None if unknown."""
    return ERRORS.get(_key(code))


def classify_error(code: int | str, http_status: int | None = None) -> Verdict:
    """Classify a SmsManager error code (with the HTTP status when known)."""
    key = _key(code)
    row = ERRORS.get(key)
    if row is not None:
        return to_verdict(row, code=str(code).strip())
    text = str(code).strip()
    log_unknown_once("smsmanager", text, f"http={http_status}")
    action, why = _fallback(text, http_status)
    return unknown_verdict(action, text, "", why)


def _fallback(code: str, http_status: int | None) -> tuple[Action, str]:
    if http_status is not None:
        by_http = {401: A.FATAL, 402: A.FATAL, 403: A.FATAL, 429: A.THROTTLED}
        if http_status in by_http:
            return by_http[http_status], f"HTTP {http_status}"
        if 400 <= http_status < 500:
            return A.PERMANENT, f"HTTP {http_status}"
        return A.RETRY, f"HTTP {http_status}"
    if code[:1] in ("1", "2") and len(code) == 3:
        return A.PERMANENT, "range 1xx-2xx (client errors)"
    return A.RETRY, "no class known"
