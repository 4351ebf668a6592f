"""SmsManager delivery states by polling: `/RequestStatus` by request id (`Spec.status`).

A message's ref is the request id the gateway's send answer gave (`Result.poll_ref`);
a message sent before the worker kept those has its provider id `{customid}:{number}`
instead, which `/RequestStatus` cannot be asked by: not `usable`.  `/RequestStatus?
apikey=&requestid=` answers one line per number of that request, `number|request state|
expected receipts|receipt state` (the states of the seed's two tables, `codes`).

What a line tells about its message (a report only when it is something new):

* a receipt state other than 0 ("no receipt for the message"): that receipt, as a
  webhook receipt would say it (1, 4, 5 pending; 2 delivered; 3, 8 undeliverable;
  6 expired; 7 invalid number, the number opted out);
* no receipt, and a request state that ended it unsent (4 invalid, 6 cancelled by the
  user, 7 cancelled by the system): rejected;
* otherwise (waiting, sending, sent without a receipt yet): nothing.

Each request id is asked once per `read` (the poller keeps a request's messages in one
`read`), at most `STATUS_CONCURRENCY` at once.  SmsManager states no rate limit
(`rate` None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import aiohttp

from config.settings import Settings
from core.errors import GatewayProtocolError
from core.limits.spec import Limit
from providers import http
from providers.reports import DeliveryReport
from providers.smsmanager import codes
from providers.smsmanager.ids import normalise_number
from providers.smsmanager.reports import PROVIDER
from providers.smsmanager.sender import (
    LOOKUP_CONCURRENCY,
    STATUS_PATH,
    TAKEN_REJECTED,
    SmsManagerSender,
)
from providers.status import Asked

STATUS_CONCURRENCY = LOOKUP_CONCURRENCY  # /RequestStatus requests at once
REQUESTS_PER_READ = 100  # request ids one `read` asks about
NO_RECEIPT = 0
BODY_CHARS = 500


class SmsManagerStatusReader:
    """Reads `/RequestStatus` for each request id of a `read`."""

    refs_per_read = REQUESTS_PER_READ
    rate: Limit | None = None

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.sender = SmsManagerSender(session, settings)
        self.slots = asyncio.Semaphore(STATUS_CONCURRENCY)

    def usable(self, ref: str) -> bool:
        return ref.isdigit()

    async def read(self, asked: Sequence[Asked]) -> list[DeliveryReport]:
        by_request: dict[str, list[Asked]] = {}
        for a in asked:
            by_request.setdefault(a.ref, []).append(a)
        answers = await asyncio.gather(*(self._status(ref) for ref in by_request))
        out: list[DeliveryReport] = []
        for (ref, mine), answer in zip(by_request.items(), answers, strict=True):
            out += reports_of(ref, parse_status_lines(answer.body), mine)
        return out

    async def _status(self, request_id: str) -> http.Answer:
        async with self.slots:
            return await self.sender._get(STATUS_PATH, requestid=request_id)


def parse_status_lines(raw: bytes) -> list[tuple[str, int, int]]:
    """`number|request state|expected receipts|receipt state` lines -> (number, request
    state, receipt state); a line that cannot be read raises GatewayProtocolError."""
    out = []
    for line in raw.decode("utf-8", "replace").strip().splitlines():
        if not line.strip():
            continue
        fields = [x.strip() for x in line.split("|")]
        number = normalise_number(fields[0])
        if len(fields) < 4 or not number or not (fields[1].isdigit() and fields[3].isdigit()):
            raise GatewayProtocolError(
                f"unreadable /RequestStatus line: {line[:80]!r}",
                body=raw[:BODY_CHARS].decode("utf-8", "replace"),
            )
        out.append((number, int(fields[1]), int(fields[3])))
    return out


def reports_of(
    request_id: str, lines: Sequence[tuple[str, int, int]], asked: Sequence[Asked]
) -> list[DeliveryReport]:
    """The reports the lines of one request give its messages (`message_id` and `to` ours)."""
    ours = {normalise_number(a.to): a for a in asked}
    out = []
    for number, request_state, receipt in lines:
        mine = ours.get(number)
        report = _report(request_id, request_state, receipt)
        if mine is not None and report is not None:
            out.append(replace(report, message_id=mine.message_id, to=mine.to))
    return out


def _report(request_id: str, request_state: int, receipt: int) -> DeliveryReport | None:
    row = codes.RECEIPT_STATES.get(receipt)
    if row is not None and receipt != NO_RECEIPT:
        return DeliveryReport(
            message_id="",
            state=row.state,
            final=row.final,
            status_code=str(receipt),
            status_name=row.name.upper(),
            group=row.name.upper(),
            suppress=receipt in codes.SUPPRESS_RECEIPT_STATES,
            provider=PROVIDER,
            format="smsmanager",
        )
    if request_state in TAKEN_REJECTED:
        request_row = codes.REQUEST_STATES[request_state]
        return DeliveryReport(
            message_id="",
            state=request_row.state,
            final=request_row.final,
            status_code=str(request_state),
            status_name=request_row.name.upper(),
            group="REQUEST",
            error_name=f"request {request_id} {request_row.name}",
            provider=PROVIDER,
            format="smsmanager",
        )
    return None
