"""Polling a gateway that keeps its reports for us: pull until empty, losing nothing on a crash.

The pull of a gateway that keeps its delivery reports for the client to fetch, each
returned only once: the provider registers a report source (`Spec.pull`,
`providers.pull.ReportSource`) and this module asks the registry for it, never naming a
gateway.  The gateways that can only be asked about each message are polled by
`dispatcher.reports.status_poll`.

Such a gateway returns each report only once, so a pulled body is written to the inbox
stream (`sms:reports:pending`, with the name of its provider) *before* it is parsed and
applied, and removed (XACK + XDEL in the `ingest` consumer group) only after
`record.lua` has applied it.  A crash between the pull and the apply leaves the body in
the inbox: the next run reads its own pending entries first (same consumer name) and
claims other consumers' entries idle for more than CLAIM_IDLE_MS.  Applying twice is
harmless (the rank rule).  A body that cannot be parsed is moved to `sms:reports:bad`
(capped) with the reason, never retried forever.

The one moment the inbox cannot cover is the pull itself: the gateway forgets a
report as it sends it, so a poller stopped between its pull and the inbox write
would lose that page.  Before each pull the poller marks it
(`sms:reports:pulling:{consumer}`) and unmarks it once the page is in the inbox;
a poller that finds its mark at start (`recover`) asks the source's message logs about
every message still waiting for a report (the campaigns' open indexes), so what
the lost page said is read again from the logs.

`logs(message_ids)` asks the message logs about stragglers (kept for a while by the
gateway and not consumed by reading, so applied directly).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson
from redis.exceptions import ResponseError

from config.settings import Settings
from core import keys, ledger
from core.errors import ConfigError
from dispatcher.reports import ingest
from dispatcher.reports.ingest import BAD_KEEP
from providers import registry
from providers.pull import ReportSource
from providers.reports import Parsed, ReportParseError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
READ_COUNT = 10  # inbox entries per read
CLAIM_IDLE_MS = 60_000  # another consumer's entry this old is taken over


def consumer_name() -> str:
    return f"poller@{socket.gethostname()}"


def pullable(provider: str) -> bool:
    """Whether `provider` registers a report source (keeps its reports for us to pull)."""
    return registry.get(provider).pull is not None


class Poller:
    """Pulls one provider's reports through the inbox (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        session: aiohttp.ClientSession,
        settings: Settings,
        provider: str,
        *,
        limit: int = DEFAULT_LIMIT,
        consumer: str = "",
    ) -> None:
        self.client = client
        self.session = session
        self.settings = settings
        self.provider = provider
        self.limit = limit
        self.consumer = consumer or consumer_name()
        self.policy = settings.stream_policy
        self.sources: dict[str, ReportSource] = {}
        self.source = self._source(provider)

    def _source(self, provider: str) -> ReportSource:
        """The report source of `provider` (the one an inbox entry names), made once."""
        if provider not in self.sources:
            factory = registry.get(provider).pull
            if factory is None:
                raise ConfigError("provider", f"provider {provider!r} keeps no reports to pull")
            self.sources[provider] = factory(self.session, self.settings)
        return self.sources[provider]

    async def poll_once(self) -> int:
        """Recover the inbox (and a lost pull), then pull and apply until the gateway has
        nothing; returns the reports seen."""
        await self._ensure_group()
        seen = await self.recover() + await self.drain()
        while True:
            await self.client.set(self._pulling, int(time.time() * 1000))
            body, ctype = await self.pull()
            count = _count(self.source, body, ctype)
            if count != 0:
                await self.store(body, ctype)
            await self.client.delete(self._pulling)
            if count == 0:
                return seen
            seen += await self.drain()
            if count < 0:  # a 200 we cannot read: kept aside by drain; do not spin on it
                return seen

    @property
    def _pulling(self) -> str:
        return keys.reports_pulling(self.consumer)

    async def recover(self) -> int:
        """After a pull that may have been lost (our mark is still there): ask the logs about
        every message still waiting for a report, then drop the mark; returns reports seen."""
        if not await self.client.exists(self._pulling):
            return 0
        seen = 0
        campaigns = [c.decode() async for c in self.client.sscan_iter(keys.CAMPAIGNS)]
        for campaign in campaigns:
            async for chunk in self._open(campaign):
                seen += await self.logs(chunk)
        log.warning(
            "a pull may have been lost: asked the logs about open messages, %d reports", seen
        )
        await self.client.delete(self._pulling)
        return seen

    async def _open(self, campaign: str) -> AsyncIterator[list[str]]:
        """The campaign's messages waiting for a report (the accepted and pending ones of the
        open index's ledger buckets), as many at a time as one logs request may name."""
        size = self.source.logs_chunk
        chunk: list[str] = []
        async for bucket, _score in self.client.zscan_iter(keys.campaign_open(campaign)):
            key = bucket.decode()
            chunk.extend(ledger.open_ids(campaign, key, await self.client.hgetall(key)))
            while len(chunk) >= size:
                yield chunk[:size]
                chunk = chunk[size:]
        if chunk:
            yield chunk

    async def pull(self) -> tuple[bytes, str]:
        """One pull of the reports not fetched before (the gateway forgets them now)."""
        return await self.source.pull(self.limit)

    async def store(self, body: bytes, content_type: str) -> str:
        fields = {
            "body": body,
            "ctype": content_type,
            "at": int(time.time() * 1000),
            "provider": self.provider,
        }
        return (await self.client.xadd(keys.REPORTS_STREAM, fields)).decode()

    async def drain(self) -> int:
        """Apply every inbox entry: ours left pending, stale ones of others, then new ones."""
        seen = 0
        for start in ("0", None, ">"):
            while entries := await self._read(start):
                for entry_id, fields in entries:
                    seen += await self._apply(entry_id, fields)
        return seen

    async def logs(self, message_ids: Sequence[str]) -> int:
        """Ask the message logs about these messages and apply what they say; returns
        reports."""
        seen = 0
        async for reports in self.source.logs(message_ids):
            await ingest.apply(self.client, reports, self.policy, self.settings.optout_learned_days)
            seen += len(reports)
        return seen

    async def _read(self, start: str | None) -> list[tuple[Any, dict]]:
        if start is None:
            claimed = await self.client.xautoclaim(
                keys.REPORTS_STREAM,
                keys.REPORTS_GROUP,
                self.consumer,
                CLAIM_IDLE_MS,
                count=READ_COUNT,
            )
            return [e for e in claimed[1] if e[1]]
        got = await self.client.xreadgroup(
            keys.REPORTS_GROUP, self.consumer, {keys.REPORTS_STREAM: start}, count=READ_COUNT
        )
        entries = got[0][1] if got else []
        gone = [entry_id for entry_id, fields in entries if not fields]  # deleted, still pending
        if gone:
            await self.client.xack(keys.REPORTS_STREAM, keys.REPORTS_GROUP, *gone)
        return [e for e in entries if e[1]]

    async def _apply(self, entry_id: Any, fields: dict) -> int:
        """Apply an inbox entry's good reports; only what cannot be parsed goes to REPORTS_BAD.

        A page whose envelope is unreadable is set aside whole (nothing in it can be
        trusted); otherwise each bad record is set aside alone, with its index, field,
        reason and raw text, and the page's good reports are applied.
        """
        body, ctype = fields[b"body"], fields.get(b"ctype", b"").decode()
        provider = fields.get(b"provider", self.provider.encode()).decode()
        entry = entry_id.decode()
        try:
            parsed = self._source(provider).parse(body, ctype)
        except (ReportParseError, ConfigError) as exc:  # unreadable, or no such source now
            log.error("inbox entry %s unparseable, moved to %s: %s", entry, keys.REPORTS_BAD, exc)
            reports = []
            bad = [
                orjson.dumps(
                    {
                        "id": entry,
                        "reason": str(exc),
                        "body": body[:4096].decode("utf-8", "replace"),
                    }
                )
            ]
        else:
            reports, rejected = parsed.reports, parsed.rejected
            if rejected:
                log.error(
                    "inbox entry %s: %d of %d records unparseable, moved to %s (first: %s)",
                    entry,
                    len(rejected),
                    len(reports) + len(rejected),
                    keys.REPORTS_BAD,
                    rejected[0],
                )
            bad = [
                orjson.dumps({"id": entry, "provider": provider, **exc.as_dict()})
                for exc in reversed(rejected[:BAD_KEEP])
            ]
        if bad:
            await self.client.lpush(keys.REPORTS_BAD, *bad)
            await self.client.ltrim(keys.REPORTS_BAD, 0, BAD_KEEP - 1)
        await ingest.apply(self.client, reports, self.policy, self.settings.optout_learned_days)
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(keys.REPORTS_STREAM, keys.REPORTS_GROUP, entry_id)
        pipe.xdel(keys.REPORTS_STREAM, entry_id)
        await pipe.execute()
        return len(reports)

    async def _ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(
                keys.REPORTS_STREAM, keys.REPORTS_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def _count(parsed_by: ReportSource, body: bytes, content_type: str) -> int:
    """How many records a pulled body holds, good or bad; -1 when it does not parse at all.

    Either way the body is stored: `_apply` sets aside what it cannot use.
    """
    try:
        parsed: Parsed = parsed_by.parse(body, content_type)
    except ReportParseError:
        return -1
    return len(parsed) + len(parsed.rejected)
