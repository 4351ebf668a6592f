"""ANTS sender: a batch becomes one `POST /sms/1/text/advanced`, the answer per-destination results.

HTTP goes through `workers.providers.http`, the one place where aiohttp's exceptions are
translated into the `GatewayError` tree of `dispatcher.errors`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from config.settings import Settings
from dispatcher.batch import Batch
from dispatcher.errors import (
    GatewayProtocolError,
)
from workers.providers import http
from workers.providers.ants import codes
from workers.providers.base import Verdict

ADVANCED_PATH = "/sms/1/text/advanced"
MAX_VALIDITY_MINUTES = 2880
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Result:
    """The gateway's answer for one destination."""

    message_id: str
    to: str
    verdict: Verdict
    group: str = ""
    sms_count: int = 0


class AntsSender:
    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.url = settings.ants_base_url + ADVANCED_PATH
        self.headers = {**JSON_HEADERS, "Authorization": settings.auth_header}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    def body(self, batch: Batch) -> bytes:
        """The advanced-SMS request: one messages[] entry for a shared text, else one each."""
        extra = self._options(batch)
        if batch.text is not None:
            dests = [{"to": d.to, "messageId": d.message_id} for d in batch.destinations]
            messages = [{"from": batch.sender, "destinations": dests, "text": batch.text, **extra}]
        else:
            messages = [
                {"from": batch.sender, "destinations": [{"to": d.to, "messageId": d.message_id}],
                 "text": d.text, **extra}
                for d in batch.destinations
            ]  # fmt: skip
        return orjson.dumps({"bulkId": batch.bulk_id, "messages": messages})

    def _options(self, batch: Batch) -> dict[str, Any]:
        s = self.settings
        left = (batch.expires_at - time.time() * 1000) / 60_000
        opts: dict[str, Any] = {"validityPeriod": max(1, min(MAX_VALIDITY_MINUTES, int(left)))}
        if s.notify_url:
            opts |= {"notifyUrl": s.notify_url, "notifyContentType": s.notify_content_type}
        if s.callback_data:
            opts["callbackData"] = s.callback_data
        return opts

    async def send(self, batch: Batch) -> list[Result]:
        """Send; per-destination results, or a GatewayError for the whole request."""
        answer = await http.request(self.session, "POST", self.url, timeout=self.timeout,
                                    headers=self.headers, data=self.body(batch))  # fmt: skip
        return parse_answer(check(answer))


def check(answer: http.Answer) -> bytes:
    """The body of a 2xx ANTS answer; any other status raises its GatewayError."""
    verdict = codes.classify_http(answer.status, answer.body, answer.headers.get("Retry-After"))
    if verdict is not None:
        raise http.error_for(verdict, answer.status, answer.body)
    return answer.body


def parse_answer(raw: bytes) -> list[Result]:
    """`{bulkId, messages:[{to, status, error?, smsCount, messageId}]}` -> results."""
    try:
        doc = orjson.loads(raw)
        return [_result(m) for m in doc["messages"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise GatewayProtocolError(f"unreadable answer: {exc!r}", body=raw[:500].decode(
            "utf-8", "replace")) from exc  # fmt: skip


def _result(m: dict[str, Any]) -> Result:
    status = m["status"]
    verdict = codes.classify_status(status, m.get("error"))
    group = str(status.get("groupId", ""))
    return Result(m["messageId"], m.get("to", ""), verdict, group, int(m.get("smsCount") or 0))
