"""Delivery reports: what one is (`Report`), and how it is written in the 2018 format
(`{"results": [...]}`, also served by GET /sms/1/reports and /sms/1/logs), the newer
callback format (`{"bulkId", "details": [...]}`) and their XML documents.

A message-log entry (`state.logs`) is the accepted destination's `Record` until its
final report is released, then that `Report`; `log_2018` writes either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from sandbox.statuses import INTERMEDIATE, NO_ERROR, OUTCOMES, Outcome

Json = dict[str, Any]


@dataclass(slots=True)
class Message:
    """What the destinations of one submitted message share."""

    bulk_id: str
    sender: str
    text: str
    sms_count: int
    price: float  # per message: sms_count * price_per_part
    currency: str
    callback_data: str | None
    notify_url: str | None
    content_type: str
    intermediate: bool
    accept_status: Json  # the status its destinations were accepted with (shared dict)
    sent_at: float  # wall clock of the request that submitted it


# One accepted destination waiting for its report: (message, messageId, to, outcome name).
Record = tuple[Message, str, str, str]


@dataclass(slots=True)
class Report:
    """A report ready to be written: one destination, one outcome, when."""

    message: Message
    message_id: str
    to: str
    outcome: Outcome
    sent_at: float  # wall clock
    done_at: float

    @classmethod
    def of(cls, record: Record, sent_at: float, done_at: float, final: bool = True) -> Report:
        message, mid, to, outcome = record
        return cls(message, mid, to, OUTCOMES[outcome] if final else INTERMEDIATE, sent_at, done_at)


# A message-log entry: the accepted destination, then its final report.
LogEntry = Record | Report


def arrived(entry: LogEntry) -> float:
    """The wall clock when the request that submitted a logged message came in."""
    return entry.sent_at if isinstance(entry, Report) else entry[0].sent_at


@lru_cache(maxsize=1024)
def stamp_2018(t: float) -> str:
    """2015-02-12T09:51:43.123+0000"""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@lru_cache(maxsize=1024)
def stamp_new(t: float) -> str:
    """2019-05-27T14:39:40.273"""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def result_2018(r: Report, with_text: bool = False) -> Json:
    m = r.message
    out: Json = {
        "bulkId": m.bulk_id,
        "messageId": r.message_id,
        "to": r.to,
        "sentAt": stamp_2018(r.sent_at),
        "doneAt": stamp_2018(r.done_at),
        "smsCount": m.sms_count,
        "price": {"pricePerMessage": m.price, "currency": m.currency},
        "status": r.outcome.status,
        "error": r.outcome.error,
    }
    if with_text:  # the /sms/1/logs flavour
        out["from"] = m.sender
        out["text"] = m.text
    if m.callback_data is not None:
        out["callbackData"] = m.callback_data
    return out


def log_view(entry: LogEntry) -> tuple[Message, str, str, Json]:
    """(message, messageId, to, status) of a log entry, accepted or final."""
    if type(entry) is tuple:
        message, mid, to, _ = entry
        return message, mid, to, message.accept_status
    assert isinstance(entry, Report)
    return entry.message, entry.message_id, entry.to, entry.outcome.status


def log_2018(entry: LogEntry) -> Json:
    """One GET /sms/1/logs result: the final report, or the accepted message (no doneAt)."""
    if type(entry) is not tuple:
        assert isinstance(entry, Report)
        return result_2018(entry, with_text=True)
    m, mid, to, _ = entry
    out: Json = {
        "bulkId": m.bulk_id,
        "messageId": mid,
        "to": to,
        "from": m.sender,
        "text": m.text,
        "sentAt": stamp_2018(m.sent_at),
        "smsCount": m.sms_count,
        "price": {"pricePerMessage": m.price, "currency": m.currency},
        "status": m.accept_status,
        "error": NO_ERROR,
    }
    if m.callback_data is not None:
        out["callbackData"] = m.callback_data
    return out


def detail_new(r: Report) -> Json:
    m = r.message
    return {
        "messageId": r.message_id,
        "to": r.to,
        "from": m.sender,
        "text": m.text,
        "credit": m.price,
        "sendDate": stamp_new(r.sent_at),
        "doneDate": stamp_new(r.done_at),
        "status": r.outcome.new_status,
        "callbackData": m.callback_data,
    }


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    elif value is None:
        return f"<{tag}/>"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def body_2018(reports: list[Report], xml: bool) -> bytes | Json:
    results = [result_2018(r) for r in reports]
    if not xml:
        return {"results": results}
    items = "".join(_xml("result", item) for item in results)
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<reportResponse><results>{items}</results></reportResponse>"
    )
    return doc.encode()


def body_new(bulk_id: str, reports: list[Report], xml: bool) -> bytes | Json:
    details = [detail_new(r) for r in reports]
    if not xml:
        return {"bulkId": bulk_id, "details": details}
    items = "".join(_xml("detail", d) for d in details)
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CALLBACK xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"{_xml('bulkId', bulk_id)}<details>{items}</details></CALLBACK>"
    )
    return doc.encode()
