"""The ANTS status and error tables the sandbox answers with, as ready-to-serialise dicts.

Dicts here are shared by every answer that uses them (orjson serialises shared
objects fine); never mutate them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


def _status(group_id: int, group: str, status_id: int, name: str, description: str) -> Json:
    return {
        "groupId": group_id,
        "groupName": group,
        "id": status_id,
        "name": name,
        "description": description,
    }


def _error(group_id: int, group: str, error_id: int, name: str, desc: str, perm: bool) -> Json:
    return {
        "groupId": group_id,
        "groupName": group,
        "id": error_id,
        "name": name,
        "description": desc,
        "permanent": perm,
    }


MESSAGE_ACCEPTED = _status(0, "ACCEPTED", 0, "MESSAGE_ACCEPTED", "Message accepted")
PENDING_ACCEPTED = _status(
    1, "PENDING", 26, "PENDING_ACCEPTED", "Message accepted, pending for delivery."
)
PENDING_WAITING_DELIVERY = _status(
    1, "PENDING", 3, "PENDING_WAITING_DELIVERY", "Message sent, waiting for delivery report"
)


def _rejected(status_id: int, name: str, description: str) -> Json:
    return _status(5, "REJECTED", status_id, name, description)


REJECTED = {
    "REJECTED_PREFIX_MISSING": _rejected(8, "REJECTED_PREFIX_MISSING", "Number prefix missing"),
    "REJECTED_NOT_ENOUGH_CREDITS": _rejected(
        12, "REJECTED_NOT_ENOUGH_CREDITS", "Not enough credits"
    ),
    "REJECTED_DESTINATION": _rejected(14, "REJECTED_DESTINATION", "Destination blacklisted"),
    "REJECTED_FLOODING_FILTER": _rejected(
        20, "REJECTED_FLOODING_FILTER", "Message rejected by the anti-flooding filter"
    ),
    "REJECTED_SYSTEM_ERROR": _rejected(21, "REJECTED_SYSTEM_ERROR", "System error"),
    "REJECTED_DUPLICATE_MESSAGE_ID": _rejected(
        23, "REJECTED_DUPLICATE_MESSAGE_ID", "Duplicate message id"
    ),
    "REJECTED_INVALID_UDH": _rejected(
        24, "REJECTED_INVALID_UDH", "Invalid ESM class or user data header"
    ),
    "REJECTED_MESSAGE_TOO_LONG": _rejected(
        25, "REJECTED_MESSAGE_TOO_LONG", "Message longer than 25 parts or 4000 bytes"
    ),
    "REJECTED_NETWORK": _rejected(6, "REJECTED_NETWORK", "Network not covered"),
    "REJECTED_DND": _rejected(10, "REJECTED_DND", "Destination subscribed to DND"),
    "REJECTED_SOURCE": _rejected(11, "REJECTED_SOURCE", "Sender not registered"),
}

NO_ERROR = _error(0, "OK", 0, "NO_ERROR", "No Error", False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A final (or intermediate) delivery state in both report formats."""

    name: str  # the sandbox's name for it, used in settings and /_sandbox/state
    status: Json  # 2018 status object
    error: Json  # 2018 error object
    new_status: Json  # newer callback status {code, name, description}


OUTCOMES: dict[str, Outcome] = {
    "DELIVERED": Outcome(
        "DELIVERED",
        _status(3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset"),
        NO_ERROR,
        {"code": "000", "name": "DELIVERED", "description": "Successfully sent to phone"},
    ),
    "UNDELIVERABLE": Outcome(
        "UNDELIVERABLE",
        _status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered"),
        _error(1, "HANDSET_ERRORS", 27, "EC_ABSENT_SUBSCRIBER", "Absent Subscriber", False),
        {"code": "281", "name": "UNDELIVERED", "description": "Subscriber busy"},
    ),
    "UNDELIVERABLE_PERMANENT": Outcome(
        "UNDELIVERABLE_PERMANENT",
        _status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered"),
        _error(1, "HANDSET_ERRORS", 1, "EC_UNKNOWN_SUBSCRIBER", "Unknown Subscriber", True),
        {"code": "270", "name": "UNDELIVERED", "description": "Unknown subscriber"},
    ),
    "EXPIRED": Outcome(
        "EXPIRED",
        _status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired"),
        NO_ERROR,
        {"code": "300", "name": "EXPIRED", "description": "Expire - validity period expired"},
    ),
}

INTERMEDIATE = Outcome(
    "PENDING",
    PENDING_WAITING_DELIVERY,
    NO_ERROR,
    {"code": "101", "name": "PENDING", "description": "Pending - Message accepted by the system"},
)


def service_error(message_id: str, text: str) -> Json:
    """The body of every non-200 ANTS answer."""
    return {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}
