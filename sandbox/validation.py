"""Request-body validation for the send endpoints: the first bad field -> 400 naming it.

Everything is checked before anything is accepted, so a 400 never leaves a
half-accepted request behind.  Messages keep their parsed dicts; nothing is copied.

The advanced message's options, read the least favourable way where the 2018 document
only shows an example (`"flash": false`, `"language": {"languageCode": "TR",
"singleShift": true, "lockingShift": false}`, `"transliteration": "TURKISH"`,
`"intermediateReport": true`):

* `flash`, `intermediateReport`: JSON booleans only (not "true", not 1);
* `transliteration`: a string, exactly one of TRANSLITERATIONS in upper case (the example
  shows TURKISH; the rest are the values of the Infobip API the document is modelled on);
* `language`: an object whose `languageCode` is one of the national languages of 3GPP TS
  23.038 Annex A the API names (TR, ES, PT: no AUTODETECT, no lower case) and whose
  `singleShift` and `lockingShift` are both present, booleans; a locking shift for a
  language without such a table (Spanish: A.3.2 is void) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_BULK_ID = 100
MAX_MESSAGE_ID = 200
MAX_FROM = 11
MAX_VALIDITY = 2880  # minutes (48 hours)
CONTENT_TYPES = ("application/json", "application/xml")
TRANSLITERATIONS = (
    "TURKISH",
    "GREEK",
    "CYRILLIC",
    "SERBIAN_CYRILLIC",
    "BULGARIAN_CYRILLIC",
    "CENTRAL_EUROPEAN",
    "BALTIC",
    "PORTUGUESE",
    "COLOMBIAN",
    "NON_UNICODE",
)
LANGUAGE_CODES = ("TR", "ES", "PT")
LOCKING_SHIFT_CODES = ("TR", "PT")  # TS 23.038 A.3: no Spanish locking shift table
NUMBER_RULE = "must be digits in international format without '+' (6 to 15 digits)"


class BadRequest(Exception):
    """A request the gateway refuses as a whole: HTTP 400 BAD_REQUEST."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"[{field} : {problem}]")


def valid_number(to: Any) -> bool:
    return type(to) is str and 6 <= len(to) <= 15 and to.isdigit() and to.isascii()


def _optional_str(data: dict, key: str, where: str, limit: int) -> None:
    value = data.get(key)
    if value is None:
        return
    if type(value) is not str or not value or len(value) > limit:
        raise BadRequest(f"{where}{key}", f"must be a string of 1 to {limit} characters")


def check_sender(data: dict, where: str) -> None:
    _optional_str(data, "from", where, MAX_FROM)
    sender = data.get("from")
    if sender is not None and " " in sender:
        raise BadRequest(f"{where}from", "must not contain spaces")


def check_text(data: dict, where: str) -> None:
    text = data.get("text")
    if type(text) is not str or not text:
        raise BadRequest(f"{where}text", "may not be empty")


def check_advanced(body: Any, content: Callable[[dict, str], None] = check_text) -> list[dict]:
    """The messages of a valid /sms/1/text/advanced body (each message's content checked by
    `content`: its text, or for /sms/1/binary/advanced its `binary`); BadRequest otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    _optional_str(body, "bulkId", "", MAX_BULK_ID)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages", "may not be empty")
    for i, message in enumerate(messages):
        check_message(message, f"messages[{i}].", content)
    return messages


def check_message(
    message: Any, where: str, content: Callable[[dict, str], None] = check_text
) -> None:
    if not isinstance(message, dict):
        raise BadRequest(where.rstrip("."), "must be an object")
    check_sender(message, where)
    content(message, where)
    check_options(message, where)
    destinations = message.get("destinations")
    if not isinstance(destinations, list) or not destinations:
        raise BadRequest(f"{where}destinations", "may not be empty")
    for j, dest in enumerate(destinations):
        if type(dest) is not dict:
            raise BadRequest(f"{where}destinations[{j}]", "must be an object")
        if not valid_number(dest.get("to")):
            raise BadRequest(f"{where}destinations[{j}].to", NUMBER_RULE)
        mid = dest.get("messageId")
        if mid is not None and (type(mid) is not str or not mid or len(mid) > MAX_MESSAGE_ID):
            raise BadRequest(
                f"{where}destinations[{j}].messageId",
                f"must be a string of 1 to {MAX_MESSAGE_ID} characters",
            )


def check_options(message: dict, where: str) -> None:
    validity = message.get("validityPeriod")
    if validity is not None and (type(validity) is not int or not 1 <= validity <= MAX_VALIDITY):
        raise BadRequest(f"{where}validityPeriod", f"must be 1 to {MAX_VALIDITY} minutes")
    url = message.get("notifyUrl")
    if url is not None and (type(url) is not str or not url.startswith(("http://", "https://"))):
        raise BadRequest(f"{where}notifyUrl", "must be an http(s) URL")
    ctype = message.get("notifyContentType")
    if ctype is not None and ctype not in CONTENT_TYPES:
        raise BadRequest(f"{where}notifyContentType", "must be application/json or application/xml")
    _optional_str(message, "callbackData", where, 4000)
    for flag in ("flash", "intermediateReport"):
        if message.get(flag) is not None and type(message[flag]) is not bool:
            raise BadRequest(f"{where}{flag}", "must be a boolean")
    send_at = message.get("sendAt")
    if send_at is not None and type(send_at) is not str:
        raise BadRequest(f"{where}sendAt", "must be a date-time string")
    table = message.get("transliteration")
    if table is not None and table not in TRANSLITERATIONS:
        raise BadRequest(f"{where}transliteration", f"must be one of {', '.join(TRANSLITERATIONS)}")
    if message.get("language") is not None:
        check_language(message["language"], f"{where}language")


def check_language(language: Any, where: str) -> None:
    if type(language) is not dict:
        raise BadRequest(where, "must be an object")
    code = language.get("languageCode")
    if code not in LANGUAGE_CODES:
        raise BadRequest(f"{where}.languageCode", f"must be one of {', '.join(LANGUAGE_CODES)}")
    for flag in ("singleShift", "lockingShift"):
        if type(language.get(flag)) is not bool:
            raise BadRequest(f"{where}.{flag}", "must be a boolean")
    if language["lockingShift"] and code not in LOCKING_SHIFT_CODES:
        raise BadRequest(f"{where}.lockingShift", f"{code} has no locking shift table")


def check_single(body: Any) -> list[dict]:
    """A valid /sms/1/text/single body, rewritten as one advanced-style message."""
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    check_sender(body, "")
    check_text(body, "")
    to = body.get("to")
    numbers = [to] if isinstance(to, str) else to
    if not isinstance(numbers, list) or not numbers:
        raise BadRequest("to", "may not be empty")
    for j, number in enumerate(numbers):
        if not valid_number(number):
            raise BadRequest("to" if isinstance(to, str) else f"to[{j}]", NUMBER_RULE)
    message = {"text": body["text"], "destinations": [{"to": n} for n in numbers]}
    if "from" in body:
        message["from"] = body["from"]
    return [message]
