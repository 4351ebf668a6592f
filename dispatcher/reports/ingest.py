"""Apply parsed delivery reports to Redis: `record.lua` calls of `core.outcomes.CHUNK`.

Every provider's parser returns `DeliveryReport`s with a normalized `state`;
`to_event` maps it onto `core.outcomes.State` and `apply` records them
with `outcomes.arecord`, so the rank rule decides what counts:

* a pending report moves an accepted message forward, never a final one;
* the first final report wins: a later final report (or a duplicate) changes
  nothing, whatever the order the gateway sends them in;
* a report for a message the worker has not recorded yet is kept, and the
  worker's later `accepted` is a no-op.

A gateway with ids of its own (SMSC.ru, SmsManager) names a message its way; `translate`
finds our messageId under `sms:pid:{provider}:{id}`, written by the worker before the
request left.  A report whose id is not there (not ours, or sent longer ago than
SMS_FINAL_TTL) is not applied: it is kept in `sms:reports:bad` with its reason.

A report naming a messageId is applied only to a message we sent: one with a state in
the ledger, or with a send claim (its request is out, and the report beat the worker's
write).  Every message that reached a gateway has one or the other (the claim is taken
before the request and ends only when its state is written), so a report for any other
id (a campaign or message that never existed, or a state long expired) creates nothing:
it is kept in `sms:reports:bad` with its reason, like an unknown gateway id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from config.settings import DEFAULT_OPTOUT_LEARNED_DAYS
from core import ids, keys, ledger, optout
from core.errors import ConfigError
from core.outcomes import Event, State, StreamPolicy, arecord, record
from dispatcher.reports import latency
from providers import registry
from providers.reports import DeliveryReport, Parsed, ReportParseError

STATE_OF_REPORT: dict[str, State] = {
    "accepted": State.ACCEPTED,
    "pending": State.PENDING,
    "delivered": State.DELIVERED,
    "undeliverable": State.UNDELIVERABLE,
    "expired": State.EXPIRED,
    "rejected": State.REJECTED,
}
REASON_MAX = 300
BAD_KEEP = 1000  # entries of sms:reports:bad kept for inspection (the newest)
UNKNOWN_ID = "no message of ours has this id (not ours, or older than SMS_FINAL_TTL)"
UNKNOWN_MESSAGE = "no message of ours has this messageId (never sent, or its state expired)"
log = logging.getLogger(__name__)


def parse(
    provider: str,
    body: bytes | str,
    content_type: str = "",
    query: Mapping[str, str] | None = None,
) -> Parsed:
    """A provider's report body (or query, for receipts sent as a GET): its good reports and
    rejected records.

    Raises ReportParseError when the body cannot be used as a whole (see
    `providers.reports`), or names no provider we know; a bad record in a list is in
    `.rejected`.
    """
    try:
        spec = registry.get(provider)
    except ConfigError as exc:
        raise ReportParseError(str(exc)) from None
    return spec.parse_report(body, content_type, query or {})


def _permanent(value: bool | None) -> str:
    return "" if value is None else str(value)


def to_event(report: DeliveryReport) -> Event:
    """One report as an outcome event of its message's campaign."""
    reason = f"{report.error_name} at {report.done_at}" if report.done_at else report.error_name
    return Event(
        message_id=report.message_id,
        campaign=ids.campaign_of(report.message_id),
        provider=report.provider,
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


def _lookup(pipe: Any, reports: Sequence[DeliveryReport], at: list[int]) -> Any:
    """GETs of our messageIds for the gateway ids at `at` (not one MGET: the keys span
    Redis Cluster slots)."""
    for i in at:
        pipe.get(keys.provider_id(reports[i].provider, reports[i].message_id))
    return pipe


async def translate(client: Any, reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
    """Gateway ids to our messageIds (`sms:pid:...`, written by the worker that sent them);
    a report with an id we do not know is kept in sms:reports:bad instead."""
    at = _own_ids(reports)
    if not at:
        return list(reports)
    mids = await _lookup(client.pipeline(transaction=False), reports, at).execute()
    known, unknown = _translated(reports, at, mids)
    if unknown:
        await _keep_unknown(client.pipeline(transaction=True), unknown).execute()
    return known


async def apply(
    client: Any,
    reports: Sequence[DeliveryReport],
    policy: StreamPolicy,
    learned_days: float = DEFAULT_OPTOUT_LEARNED_DAYS,
) -> int:
    """Record the reports with an asyncio client; returns how many changed a message.
    Numbers whose final report says they are bad or barred join the opt-out list,
    expiring after `learned_days`."""
    return await apply_ours(client, await translate(client, reports), policy, learned_days)


async def apply_ours(
    client: Any,
    reports: Sequence[DeliveryReport],
    policy: StreamPolicy,
    learned_days: float = DEFAULT_OPTOUT_LEARNED_DAYS,
) -> int:
    """`apply` for reports that already name our messageIds (polled by them: no gateway
    id to translate)."""
    reports = await _ours(client, reports)
    if not reports:
        return 0
    applied = await arecord(client, events(reports), policy)
    if found := condemned(reports):
        await optout.aadd(client, optout.learned(found, learned_days))
    pipe = client.pipeline(transaction=False)
    if latency.observe(pipe, reports):
        await pipe.execute()
    return applied


def condemned(reports: Sequence[DeliveryReport]) -> list[tuple[str, str]]:
    """(number, why) of the reports whose code says the number is bad or barred."""
    return [
        (r.to, " ".join(filter(None, (r.provider, r.status_name, r.error_code, r.error_name))))
        for r in reports
        if r.suppress and r.to
    ]


def apply_sync(
    client: Any,
    reports: Sequence[DeliveryReport],
    policy: StreamPolicy,
    learned_days: float = DEFAULT_OPTOUT_LEARNED_DAYS,
) -> int:
    """`apply` with a sync client."""
    at = _own_ids(reports)
    if at:
        mids = _lookup(client.pipeline(transaction=False), reports, at).execute()
        reports, unknown = _translated(reports, at, mids)
        if unknown:
            _keep_unknown(client.pipeline(transaction=True), unknown).execute()
    if reports:
        found = _sent(client.pipeline(transaction=False), reports).execute()
        reports, unknown = _known(reports, found)
        if unknown:
            _keep_unknown(client.pipeline(transaction=True), unknown, UNKNOWN_MESSAGE).execute()
    if not reports:
        return 0
    applied = record(client, events(reports), policy)
    if found := condemned(reports):
        optout.add(client, optout.learned(found, learned_days))
    pipe = client.pipeline(transaction=False)
    if latency.observe(pipe, reports):
        pipe.execute()
    return applied


async def _ours(client: Any, reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
    """The reports for messages we sent (a ledger state or a send claim); the others are
    kept in sms:reports:bad, and nothing of theirs is written."""
    if not reports:
        return []
    found = await _sent(client.pipeline(transaction=False), reports).execute()
    known, unknown = _known(reports, found)
    if unknown:
        await _keep_unknown(client.pipeline(transaction=True), unknown, UNKNOWN_MESSAGE).execute()
    return known


def _sent(pipe: Any, reports: Sequence[DeliveryReport]) -> Any:
    """EXISTS of each report's ledger state and send claim (HEXISTS: nothing is created;
    not one script: the reports' campaigns span Redis Cluster slots)."""
    for r in reports:
        p = ledger.place(r.message_id)
        pipe.hexists(p.key, p.field)
        pipe.hexists(p.claim_key, p.field)
    return pipe


def _known(
    reports: Sequence[DeliveryReport], found: Sequence[Any]
) -> tuple[list[DeliveryReport], list[DeliveryReport]]:
    """The reports whose message has a state or a claim, and the others."""
    known: list[DeliveryReport] = []
    unknown: list[DeliveryReport] = []
    for r, state, claim in zip(reports, found[::2], found[1::2], strict=True):
        (known if state or claim else unknown).append(r)
    if unknown:
        log.warning(
            "%d reports for messageIds we never sent (first %r): kept in %s",
            len(unknown),
            unknown[0].message_id,
            keys.REPORTS_BAD,
        )
    return known, unknown


def _own_ids(reports: Sequence[DeliveryReport]) -> list[int]:
    """Indexes of the reports whose provider names messages by ids of its own."""
    own = {p for p in registry.names() if registry.get(p).own_ids}
    return [i for i, r in enumerate(reports) if r.provider in own]


def _translated(
    reports: Sequence[DeliveryReport], at: list[int], mids: Sequence[bytes | None]
) -> tuple[list[DeliveryReport], list[DeliveryReport]]:
    """The reports with our messageIds for the gateway's own ids, and those whose id we do
    not know."""
    out: list[DeliveryReport | None] = list(reports)
    unknown = []
    for i, mid in zip(at, mids, strict=True):
        if mid is None:
            unknown.append(reports[i])
            out[i] = None
        else:
            out[i] = replace(reports[i], message_id=mid.decode())
    if unknown:
        log.warning(
            "%d %s reports for ids we do not know (first %r): kept in %s",
            len(unknown),
            unknown[0].provider,
            unknown[0].message_id,
            keys.REPORTS_BAD,
        )
    return [r for r in out if r is not None], unknown


def _keep_unknown(pipe: Any, unknown: Sequence[DeliveryReport], why: str = UNKNOWN_ID) -> Any:
    at = int(time.time() * 1000)
    entries = [
        orjson.dumps(
            {
                "source": "reports",
                "provider": r.provider,
                "id": r.message_id,
                "to": r.to,
                "state": r.state,
                "reason": why,
                "at": at,
            }
        )
        for r in reversed(unknown[:BAD_KEEP])
    ]
    pipe.lpush(keys.REPORTS_BAD, *entries)
    pipe.ltrim(keys.REPORTS_BAD, 0, BAD_KEEP - 1)
    return pipe
