"""ANTS sender: a batch becomes one `POST /sms/1/text/advanced`, the answer per-destination results.

This is the one boundary where aiohttp's exceptions are translated into the
`GatewayError` tree of `dispatcher.errors`; nothing above it sees aiohttp errors.
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
    GatewayAuthError,
    GatewayConnectError,
    GatewayError,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
    GatewayTimeout,
)
from workers.providers.ants import codes
from workers.providers.base import Action, Verdict

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
        status, headers, raw = await self._post(self.body(batch))
        verdict = codes.classify_http(status, raw, headers.get("Retry-After"))
        if verdict is not None:
            raise _error_for(verdict, status, raw)
        return parse_answer(raw)

    async def _post(self, body: bytes) -> tuple[int, Any, bytes]:
        try:
            async with self.session.post(
                self.url, data=body, headers=self.headers, timeout=self.timeout
            ) as resp:
                return resp.status, resp.headers, await resp.read()
        except TimeoutError as exc:
            raise GatewayTimeout(f"no answer from {self.url} in {self.timeout.total}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise GatewayConnectError(f"cannot connect to {self.url}: {exc.os_error}") from exc
        except aiohttp.ClientError as exc:  # server disconnected mid-answer, payload errors
            raise GatewayTimeout(f"connection to {self.url} broke: {exc!r}") from exc


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


def _error_for(verdict: Verdict, status: int, raw: bytes) -> GatewayError:
    body = raw[:500].decode("utf-8", "replace")
    kind: type[GatewayError] = {
        Action.THROTTLED: GatewayThrottled,
        Action.FATAL: GatewayAuthError,
        Action.PERMANENT: GatewayRequestError,
    }.get(verdict.action, GatewayServerError)
    return kind(f"HTTP {status}: {verdict.description or verdict.name}", status=status,
                code=verdict.code, retry_after=verdict.retry_after, body=body)  # fmt: skip
