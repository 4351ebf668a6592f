"""SMSC.ru delivery states by polling: `status.php` in its multiple form (`Spec.status`).

A message is (request id, number), and its ref is the provider id `{id}:{number}`
(`sender.provider_key`).  One `read` is ONE mass request: `phone` and `id` comma-separated
lists in the same order, with a trailing comma so that even one message keeps the
multiple form (fmt=3, all=0, as `SmscSender.lookup` asks).

SMSC.ru's limits on status.php (the seed, error 9): "more than five requests about the
same message, or more than one mass request, within a minute", per login.  `MASS_STATUS`
states the second; the poller takes it from a Redis limiter shared by every poller
process, so it holds across machines.  A mass request asks about each message once, so
one a minute never comes near five about one message.  How many messages one mass request
may carry SMSC does not say: `STATUS_CHUNK`, as many as a send request carries (PROFILE's
max_batch, which a worker's lookup asks about at once).

What a status says (`providers.smsc.reports.parse_status`, the table in `codes.STATUSES`):
-3 not found (not a report: the gateway does not know it, or no longer), -1 still queued
(`accepted`: nothing new), 0 handed to the operator (`pending`), 1-4, 20, 22-25 final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import aiohttp

from config.settings import Settings
from core.errors import GatewayError, GatewayProtocolError
from core.limits.spec import Limit
from providers import http
from providers.reports import DeliveryReport, ReportParseError
from providers.smsc import codes
from providers.smsc.reports import parse_status
from providers.smsc.sender import SmscSender, digits
from providers.status import Asked

MASS_STATUS = Limit(1, 60_000)  # mass status.php requests per login (error 9 past it)


def mass_status(settings: Settings) -> Limit:
    """MASS_STATUS over SMSC's minute as long as SMSC_WINDOW_S says."""
    return Limit(MASS_STATUS.attempts, round(settings.smsc_window_s * 1000))


STATUS_CHUNK = 1000  # messages per mass request (SMSC states no maximum)
STATUS_FORM = {"fmt": "3", "all": "0", "charset": "utf-8"}  # JSON, the status alone
BODY_CHARS = 500


def split_ref(ref: str) -> tuple[str, str]:
    """`{id}:{number}` -> (id, number digits); ("", "") when it is not that."""
    sid, sep, number = ref.rpartition(":")
    return (sid, number) if sep and sid and number.isdigit() else ("", "")


class SmscStatusReader:
    """Reads status.php for batches of messages (one mass request per `read`)."""

    refs_per_read = STATUS_CHUNK

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.sender = SmscSender(session, settings)
        self.rate: Limit | None = mass_status(settings)

    def usable(self, ref: str) -> bool:
        return split_ref(ref) != ("", "")

    def form(self, asked: Sequence[Asked]) -> dict[str, str]:
        """The mass request's form: ids and numbers in the same order, trailing commas."""
        pairs = [split_ref(a.ref) for a in asked]
        ids = "".join(f"{sid}," for sid, _ in pairs)
        phones = "".join(f"{number}," for _, number in pairs)
        return {**self.sender.auth, "id": ids, "phone": phones, **STATUS_FORM}

    async def read(self, asked: Sequence[Asked]) -> list[DeliveryReport]:
        if not asked:
            return []
        answer = await self.sender._post(self.sender.status_url, self.form(asked))
        try:
            return parse_answer(answer, asked)
        except GatewayError as exc:
            raise codes.in_window(exc, self.sender.settings.smsc_window_s) from None


def parse_answer(answer: http.Answer, asked: Sequence[Asked]) -> list[DeliveryReport]:
    """A mass status answer as reports about our messages (`message_id` and `to` ours); a message
    the answer does not mention, or says SMSC does not know (-3), has none.  An error answer
    raises its GatewayError (9: GatewayThrottled), an unreadable one GatewayProtocolError."""
    verdict = codes.classify_http(answer.status, answer.headers.get("Retry-After"))
    if verdict is not None:
        raise http.error_for(verdict, answer.status, answer.body)
    try:
        parsed = parse_status(answer.body, 3, 0, message_id=",", phone=",", charset="utf-8")
    except ReportParseError as exc:
        if exc.code:
            raise http.error_for(
                codes.classify_error(exc.code), answer.status, answer.body
            ) from exc
        raise GatewayProtocolError(
            f"unreadable status.php answer: {exc}",
            status=answer.status,
            body=answer.body[:BODY_CHARS].decode("utf-8", "replace"),
        ) from exc
    ours = {split_ref(a.ref): a for a in asked}
    out: list[DeliveryReport] = []
    for report in parsed.reports:
        mine = ours.get((report.message_id, digits(report.to)))
        if mine is not None and report.status_code != str(codes.NOT_FOUND):
            out.append(replace(report, message_id=mine.message_id, to=mine.to))
    return out
