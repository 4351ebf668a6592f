"""Apply parsed delivery reports to Redis: one `record.lua` call per body.

Every provider's parser returns `DeliveryReport`s with a normalized `state`;
`to_event` maps it onto `dispatcher.outcomes.State` and `apply` records them
with `outcomes.arecord`, so the rank rule decides what counts:

* a pending report moves an accepted message forward, never a final one;
* the first final report wins: a later final report (or a duplicate) changes
  nothing, whatever the order the gateway sends them in;
* a report for a message the worker has not recorded yet is kept, and the
  worker's later `accepted` is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dispatcher import ids
from dispatcher.outcomes import Event, State, StreamPolicy, arecord, record
from workers.providers.ants.reports import parse_callback
from workers.providers.reports import DeliveryReport, Parsed, ReportParseError
from workers.providers.smsc.reports import parse_status
from workers.providers.smsmanager.reports import parse_receipt

ANTS, SMSMANAGER, SMSC = "ants", "smsmanager", "smsc"
PROVIDERS = (ANTS, SMSMANAGER, SMSC)
SMSC_DEFAULT_FMT = 3  # JSON

STATE_OF_REPORT: dict[str, State] = {
    "accepted": State.ACCEPTED,
    "pending": State.PENDING,
    "delivered": State.DELIVERED,
    "undeliverable": State.UNDELIVERABLE,
    "expired": State.EXPIRED,
    "rejected": State.REJECTED,
}
REASON_MAX = 300


def parse(
    provider: str,
    body: bytes | str | Mapping[str, str],
    content_type: str = "",
    *,
    smsc_fmt: int = SMSC_DEFAULT_FMT,
) -> Parsed:
    """A report body (or, for SmsManager, query parameters): its good reports and rejected records.

    Raises ReportParseError when the body cannot be used as a whole (see
    `workers.providers.reports`); a bad record in a list is in `.rejected`.
    """
    if provider == ANTS and not isinstance(body, Mapping):
        return parse_callback(body, content_type)
    if provider == SMSMANAGER:
        return parse_receipt(body, content_type)
    if provider == SMSC and not isinstance(body, Mapping):
        return parse_status(body, smsc_fmt, 0)
    raise ReportParseError(f"unknown provider or body shape: {provider!r}")


def _permanent(value: bool | None) -> str:
    return "" if value is None else str(value)


def to_event(report: DeliveryReport) -> Event:
    """One report as an outcome event of its message's campaign."""
    reason = f"{report.error_name} at {report.done_at}" if report.done_at else report.error_name
    return Event(
        message_id=report.message_id,
        campaign=ids.campaign_of(report.message_id),
        state=STATE_OF_REPORT[report.state],
        bulk_id=report.bulk_id,
        to=report.to,
        group=report.group,
        status_id=report.status_code,
        status_name=report.status_name,
        error_id=report.error_code,
        permanent=_permanent(report.permanent),
        reason=reason[:REASON_MAX],
    )


def events(reports: Sequence[DeliveryReport]) -> list[Event]:
    return [to_event(r) for r in reports]


async def apply(client: Any, reports: Sequence[DeliveryReport], policy: StreamPolicy) -> int:
    """Record the reports with an asyncio client; returns how many changed a message."""
    return await arecord(client, events(reports), policy) if reports else 0


def apply_sync(client: Any, reports: Sequence[DeliveryReport], policy: StreamPolicy) -> int:
    """`apply` with a sync client."""
    return record(client, events(reports), policy) if reports else 0
