"""The one boundary where aiohttp's exceptions become `core.errors.GatewayError`s.

Every gateway request of every provider goes through `request()`; a whole-request
verdict from a provider's code table becomes an exception through `error_for()`.

    aiohttp / asyncio                      core.errors
    TimeoutError                       ->  GatewayTimeout       (may have been accepted)
    aiohttp.ClientConnectorError       ->  GatewayConnectError  (never reached it)
    other aiohttp.ClientError          ->  GatewayTimeout       (broke mid-answer)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import aiohttp

from core.errors import (
    GatewayAuthError,
    GatewayConnectError,
    GatewayError,
    GatewayMisconfigured,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
    GatewayTimeout,
)
from providers.base import Action, Verdict

ERROR_BODY_CHARS = 500
AUTH_STATUSES = frozenset({401, 403})
# A whole request refused for good cannot succeed as configured: it pauses the campaign
# (GatewayMisconfigured) unless the provider names the destinations it is about.
ERROR_BY_ACTION: dict[Action, type[GatewayError]] = {
    Action.THROTTLED: GatewayThrottled,
    Action.FATAL: GatewayMisconfigured,
    Action.PERMANENT: GatewayMisconfigured,
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout: aiohttp.ClientTimeout,
    headers: Mapping[str, str],
    data: bytes | None = None,
    params: Mapping[str, str] | None = None,
) -> Answer:
    """One HTTP exchange; any transport failure raises a GatewayError subclass."""
    try:
        async with session.request(
            method, url, data=data, params=params, headers=headers, timeout=timeout
        ) as resp:
            return Answer(resp.status, resp.headers, await resp.read())
    except TimeoutError as exc:
        raise GatewayTimeout(f"no answer from {url} in {timeout.total}s") from exc
    except aiohttp.ClientConnectorError as exc:
        raise GatewayConnectError(f"cannot connect to {url}: {exc.os_error}") from exc
    except aiohttp.ClientError as exc:  # server disconnected mid-answer, payload errors
        raise GatewayTimeout(f"connection to {url} broke: {exc!r}") from exc


class _Answered(TypedDict):
    """What every whole-request error says of the gateway's answer."""

    status: int
    code: str
    body: str


def error_for(
    verdict: Verdict, status: int, raw: bytes, message_ids: tuple[str, ...] = ()
) -> GatewayError:
    """The exception for a whole-request verdict (429, 400, 401, 404, 5xx ...).

    `message_ids`: the destinations a refusal is about (a 400 naming them), which then
    fail alone instead of pausing the campaign."""
    body = raw[:ERROR_BODY_CHARS].decode("utf-8", "replace")
    text = f"HTTP {status}: {verdict.description or verdict.name}"
    common: _Answered = {"status": status, "code": verdict.code, "body": body}
    if message_ids and verdict.action is Action.PERMANENT:
        return GatewayRequestError(text, message_ids=message_ids, **common)
    if status in AUTH_STATUSES and verdict.action is Action.FATAL:
        return GatewayAuthError(text, **common)
    kind = ERROR_BY_ACTION.get(verdict.action, GatewayServerError)
    return kind(text, retry_after=verdict.retry_after, **common)
