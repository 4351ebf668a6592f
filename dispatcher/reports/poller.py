"""Polling fallback: pull `GET /sms/1/reports` until empty, losing nothing on a crash.

ANTS returns each report only once, so a pulled body is written to the inbox
stream (`sms:reports:pending`) *before* it is parsed and applied, and removed
(XACK + XDEL in the `ingest` consumer group) only after `record.lua` has applied
it.  A crash between the pull and the apply leaves the body in the inbox: the
next run reads its own pending entries first (same consumer name) and claims
other consumers' entries idle for more than CLAIM_IDLE_MS.  Applying twice is
harmless (the rank rule).  A body that cannot be parsed is moved to
`sms:reports:bad` (capped) with the reason, never retried forever.

`logs(message_ids)` asks `GET /sms/1/logs` about stragglers (kept 48 h by the
gateway and not consumed by reading, so applied directly).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
from redis.exceptions import ResponseError

from config.settings import Settings
from dispatcher import keys
from dispatcher.outcomes import StreamPolicy
from dispatcher.reports import ingest
from workers.providers import http
from workers.providers.ants.reports import parse_reports_response
from workers.providers.ants.sender import check
from workers.providers.reports import ReportParseError

log = logging.getLogger(__name__)

REPORTS_PATH = "/sms/1/reports"
LOGS_PATH = "/sms/1/logs"
DEFAULT_LIMIT = 100
LOGS_CHUNK = 50  # messageIds per /sms/1/logs request
READ_COUNT = 10  # inbox entries per read
CLAIM_IDLE_MS = 60_000  # another consumer's entry this old is taken over
BAD_KEEP = 1000  # unparseable bodies kept for inspection


def consumer_name() -> str:
    return f"poller@{socket.gethostname()}"


class Poller:
    def __init__(
        self,
        client: Any,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        limit: int = DEFAULT_LIMIT,
        consumer: str = "",
    ) -> None:
        self.r, self.session, self.s = client, session, settings
        self.limit, self.consumer = limit, consumer or consumer_name()
        self.policy = StreamPolicy(maxlen=settings.outcome_maxlen, final_ttl=settings.final_ttl)
        self.headers = {"Authorization": settings.auth_header, "Accept": "application/json"}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    async def poll_once(self) -> int:
        """Recover the inbox, then pull and apply until the gateway has nothing; reports seen."""
        await self._ensure_group()
        seen = await self.drain()
        while True:
            body, ctype = await self.pull()
            count = _count(body, ctype)
            if count == 0:
                return seen
            await self.store(body, ctype)
            seen += await self.drain()
            if count < 0:  # a 200 we cannot read: kept aside by drain; do not spin on it
                return seen

    async def pull(self) -> tuple[bytes, str]:
        """One GET of the reports not fetched before (the gateway forgets them now)."""
        url = f"{self.s.ants_base_url}{REPORTS_PATH}"
        return await self._get(url, {"limit": str(self.limit)})

    async def store(self, body: bytes, content_type: str) -> str:
        fields = {"body": body, "ctype": content_type, "at": int(time.time() * 1000)}
        return (await self.r.xadd(keys.REPORTS_STREAM, fields)).decode()

    async def drain(self) -> int:
        """Apply every inbox entry: ours left pending, stale ones of others, then new ones."""
        seen = 0
        for start in ("0", None, ">"):
            while entries := await self._read(start):
                for entry_id, fields in entries:
                    seen += await self._apply(entry_id, fields)
        return seen

    async def logs(self, message_ids: Sequence[str]) -> int:
        """Ask /sms/1/logs about these messages and apply what it says; returns reports."""
        seen = 0
        for i in range(0, len(message_ids), LOGS_CHUNK):
            chunk = message_ids[i : i + LOGS_CHUNK]
            params = {"messageId": ",".join(chunk), "limit": str(len(chunk))}
            body, ctype = await self._get(f"{self.s.ants_base_url}{LOGS_PATH}", params)
            reports = parse_reports_response(body, ctype)
            await ingest.apply(self.r, reports, self.policy)
            seen += len(reports)
        return seen

    async def _read(self, start: str | None) -> list[tuple[Any, dict]]:
        if start is None:
            claimed = await self.r.xautoclaim(
                keys.REPORTS_STREAM, keys.REPORTS_GROUP, self.consumer, CLAIM_IDLE_MS,
                count=READ_COUNT,
            )  # fmt: skip
            return [e for e in claimed[1] if e[1]]
        got = await self.r.xreadgroup(keys.REPORTS_GROUP, self.consumer,
                                      {keys.REPORTS_STREAM: start}, count=READ_COUNT)  # fmt: skip
        entries = got[0][1] if got else []
        gone = [entry_id for entry_id, fields in entries if not fields]  # deleted, still pending
        if gone:
            await self.r.xack(keys.REPORTS_STREAM, keys.REPORTS_GROUP, *gone)
        return [e for e in entries if e[1]]

    async def _apply(self, entry_id: Any, fields: dict) -> int:
        body, ctype = fields[b"body"], fields.get(b"ctype", b"").decode()
        try:
            reports = parse_reports_response(body, ctype)
        except ReportParseError as exc:
            log.error(
                "inbox entry %s unparseable, moved to %s: %s", entry_id, keys.REPORTS_BAD, exc
            )
            bad = orjson.dumps({"id": entry_id.decode(), "reason": str(exc),
                                "body": body[:4096].decode("utf-8", "replace")})  # fmt: skip
            await self.r.lpush(keys.REPORTS_BAD, bad)
            await self.r.ltrim(keys.REPORTS_BAD, 0, BAD_KEEP - 1)
            reports = []
        await ingest.apply(self.r, reports, self.policy)
        pipe = self.r.pipeline(transaction=True)
        pipe.xack(keys.REPORTS_STREAM, keys.REPORTS_GROUP, entry_id)
        pipe.xdel(keys.REPORTS_STREAM, entry_id)
        await pipe.execute()
        return len(reports)

    async def _ensure_group(self) -> None:
        try:
            await self.r.xgroup_create(keys.REPORTS_STREAM, keys.REPORTS_GROUP, id="0",
                                       mkstream=True)  # fmt: skip
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _get(self, url: str, params: dict[str, str]) -> tuple[bytes, str]:
        answer = await http.request(self.session, "GET", url, timeout=self.timeout,
                                    headers=self.headers, params=params)  # fmt: skip
        return check(answer), answer.headers.get("Content-Type", "")


def _count(body: bytes, content_type: str) -> int:
    """How many reports a pulled body holds; -1 when it does not parse (stored all the same)."""
    try:
        return len(parse_reports_response(body, content_type))
    except ReportParseError:
        return -1
