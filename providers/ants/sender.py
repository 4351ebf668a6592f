"""ANTS sender: a batch becomes one `POST /sms/1/text/advanced`, the answer per-destination results.

A binary batch (`Batch.binary`) goes to `POST /sms/1/binary/advanced` instead, the same
request with `binary` {hex, dataCoding, esmClass} where a message has its `text`; the hex
is written as the 2018 document writes it, octets in two hex digits separated by a space
("0f c2 4a bf"), the one form every example of the document shows.

`lookup` asks `GET /sms/1/logs` what the gateway took of some messageIds (kept 48 h,
readable any number of times), before anything whose outcome is unknown is resent.

HTTP goes through `providers.http`, the one place where aiohttp's exceptions are
translated into the `GatewayError` tree of `core.errors`.  A 400 that names
destinations (`messages[i].destinations[j]`, a messageId or a number of the batch) is
about those only: the sender raises `GatewayRequestError` with their messageIds; a 400
that names none is about the request itself (sender, validity...): the campaign pauses.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from config.settings import Settings
from core.batch import OPTIONS_KEY, Batch
from core.errors import GatewayProtocolError
from core.options import SendOptions
from providers import http
from providers.ants import codes
from providers.ants.auth import auth_header
from providers.base import Action, Result, Verdict

ADVANCED_PATH = "/sms/1/text/advanced"
BINARY_PATH = "/sms/1/binary/advanced"
LOGS_PATH = "/sms/1/logs"
LOGS_CHUNK = 50  # messageIds per GET /sms/1/logs (the query string stays short)
MAX_VALIDITY_MINUTES = 2880
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
TAKEN_GROUPS = frozenset({"0", "1", "2", "3", "4"})  # in its logs: the gateway took it
_WHERE = re.compile(r"messages\[(\d+)\](?:\.destinations\[(\d+)\])?(?:\.(\w+))?")

__all__ = [
    "LOGS_CHUNK",
    "MAX_VALIDITY_MINUTES",
    "AntsSender",
    "Result",
    "check",
    "logs",
    "parse_answer",
]


class AntsSender:
    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.base = settings.ants_base_url
        self.url = self.base + ADVANCED_PATH
        self.binary_url = self.base + BINARY_PATH
        self.headers = {**JSON_HEADERS, "Authorization": auth_header(settings)}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    def body(self, batch: Batch) -> bytes:
        """The advanced-SMS request: one messages[] entry for a shared text (or payload),
        else one each."""
        extra = self._options(batch)
        content = content_of(batch)
        if batch.text is not None:
            dests = [{"to": d.to, "messageId": d.message_id} for d in batch.destinations]
            messages = [
                {"from": batch.sender, "destinations": dests, **content(batch.text), **extra}
            ]
        else:
            messages = [
                {
                    "from": batch.sender,
                    "destinations": [{"to": d.to, "messageId": d.message_id}],
                    **content(d.text),
                    **extra,
                }
                for d in batch.destinations
            ]
        return orjson.dumps({"bulkId": batch.bulk_id, "messages": messages})

    def _options(self, batch: Batch) -> dict[str, Any]:
        s = self.settings
        left = (batch.expires_at - time.time() * 1000) / 60_000
        opts: dict[str, Any] = {"validityPeriod": max(1, min(MAX_VALIDITY_MINUTES, int(left)))}
        if s.notify_url:
            opts |= {"notifyUrl": s.notify_url, "notifyContentType": s.notify_content_type}
        if s.callback_data:
            opts["callbackData"] = s.callback_data
        return opts | message_options(SendOptions.from_meta(batch.meta.get(OPTIONS_KEY)))

    async def send(self, batch: Batch) -> list[Result]:
        """Send; per-destination results, or a GatewayError for the whole request."""
        answer = await http.request(
            self.session,
            "POST",
            self.binary_url if batch.binary is not None else self.url,
            timeout=self.timeout,
            headers=self.headers,
            data=self.body(batch),
        )
        return parse_answer(check(answer, batch))

    def provider_ids(self, batch: Batch) -> dict[str, str]:
        return {}  # ANTS takes our messageIds

    async def lookup(self, batch: Batch) -> dict[str, Result]:
        """What the gateway's message logs say of these destinations (absent: not taken)."""
        mids = [d.message_id for d in batch.destinations]
        wanted = set(mids)
        found: dict[str, Result] = {}
        async for answer in logs(self.session, self.base, self.headers, self.timeout, mids):
            found |= {r.message_id: r for r in parse_logs(answer.body) if r.message_id in wanted}
        return found


def message_options(options: SendOptions) -> dict[str, Any]:
    """The advanced request's fields for a campaign's message options (only those asked)."""
    fields: dict[str, Any] = {}
    if options.flash:
        fields["flash"] = True
    if options.transliteration:
        fields["transliteration"] = options.transliteration
    if lang := options.language:
        fields["language"] = {
            "languageCode": lang.code,
            "singleShift": lang.single_shift,
            "lockingShift": lang.locking_shift,
        }
    if options.intermediate_reports:
        fields["intermediateReport"] = True
    return fields


async def logs(
    session: aiohttp.ClientSession,
    base_url: str,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    message_ids: Sequence[str],
) -> AsyncIterator[http.Answer]:
    """`GET /sms/1/logs` about these messageIds, LOGS_CHUNK at a time: each 2xx answer
    (kept 48 h by the gateway, readable any number of times); any other raises."""
    for i in range(0, len(message_ids), LOGS_CHUNK):
        chunk = message_ids[i : i + LOGS_CHUNK]
        params = {"messageId": ",".join(chunk), "limit": str(len(chunk))}
        answer = await http.request(
            session, "GET", base_url + LOGS_PATH, timeout=timeout, headers=headers, params=params
        )
        check(answer)
        yield answer


def content_of(batch: Batch) -> Callable[[str | None], dict[str, Any]]:
    """How a message's content is written: its `text`, or a binary batch's `binary` (the
    payload's octets in spaced hex pairs, its dataCoding and esmClass)."""
    binary = batch.binary
    if binary is None:
        return lambda text: {"text": text}
    coding = {"dataCoding": binary.data_coding, "esmClass": binary.esm_class}
    return lambda payload: {"binary": {"hex": spaced_hex(payload or ""), **coding}}


def spaced_hex(canonical: str) -> str:
    """A canonical hex ("0fc24abf") as the document writes it: "0f c2 4a bf"."""
    return " ".join(canonical[i : i + 2] for i in range(0, len(canonical), 2))


def check(answer: http.Answer, batch: Batch | None = None) -> bytes:
    """The body of a 2xx ANTS answer; any other status raises its GatewayError."""
    verdict = codes.classify_http(answer.status, answer.body, answer.headers.get("Retry-After"))
    if verdict is None:
        return answer.body
    named = named_destinations(batch, answer.body) if answer.status == 400 and batch else ()
    raise http.error_for(verdict, answer.status, answer.body, named)


def named_destinations(batch: Batch, body: bytes) -> tuple[str, ...]:
    """The messageIds a 400's text is about; () when it is about the request itself."""
    text = codes.service_exception(body)[1]
    dests = batch.destinations
    hit: list[str] = []
    places = list(_WHERE.finditer(text))
    for m in places:
        i, j, field = int(m.group(1)), m.group(2), m.group(3)
        if j is not None:  # messages[i].destinations[j]...
            index = int(j) if batch.text is not None else i
        elif batch.text is None and field in ("text", "binary"):  # one recipient's own
            index = i
        else:  # from, validityPeriod, notifyUrl...: the request itself
            return ()
        if index < len(dests):
            hit.append(dests[index].message_id)
    if not places:
        hit = [d.message_id for d in dests if d.message_id in text or d.to in text]
    return tuple(dict.fromkeys(hit))


def parse_answer(raw: bytes) -> list[Result]:
    """`{bulkId, messages:[{to, status, error?, smsCount, messageId}]}` -> results.

    A message entry we cannot read is left out: that destination's outcome is unknown
    (the gateway answered 200, so it may well have taken it) and it is asked about
    before any resend.  A body without a readable `messages` list raises."""
    try:
        doc = orjson.loads(raw)
        messages = doc["messages"]
        if not isinstance(messages, list):
            raise TypeError("messages is not a list")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise GatewayProtocolError(
            f"unreadable answer: {exc!r}", body=raw[:500].decode("utf-8", "replace")
        ) from exc
    return list(_readable(messages))


def parse_logs(raw: bytes) -> list[Result]:
    """`GET /sms/1/logs`: `{results:[{messageId, to, status, error?, smsCount}]}` -> results.

    What the logs show as accepted, pending or decided (groups 0-4) was taken:
    ALREADY_DONE.  A rejection (group 5) is what the send answer would have said."""
    try:
        results = orjson.loads(raw)["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise GatewayProtocolError(f"unreadable message logs: {exc!r}") from exc
    out = []
    for r in _readable(results):
        if r.group in TAKEN_GROUPS:
            taken = Verdict(
                Action.ALREADY_DONE, r.verdict.code, r.verdict.name, "the gateway's logs have it"
            )
            r = Result(r.message_id, r.to, taken, r.group, r.sms_count)
        out.append(r)
    return out


def _readable(entries: Iterable[Any]) -> Iterable[Result]:
    for m in entries:
        try:
            yield _result(m)
        except (KeyError, TypeError, AttributeError, ValueError):
            continue


def _result(m: dict[str, Any]) -> Result:
    status = m["status"]
    mid = m["messageId"]
    if not isinstance(mid, str) or not isinstance(status, dict):
        raise TypeError("messageId or status of the wrong type")
    error = m.get("error")
    verdict = codes.classify_status(status, error if isinstance(error, dict) else None)
    group = str(status.get("groupId", ""))
    return Result(mid, str(m.get("to", "")), verdict, group, _count(m.get("smsCount")))


def _count(value: object) -> int:
    """smsCount is informational: a malformed one is 0, never a reason to resend."""
    if not isinstance(value, int | float | str):
        return 0  # None, a list, an object: int() refuses them
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0
