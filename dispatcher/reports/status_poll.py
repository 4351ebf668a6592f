"""Delivery states by polling, for every provider that can be asked (`Spec.status`).

A gateway without callbacks (SMSC.ru, SmsManager, when none are configured in the
account) never sends a report; its messages would wait until the sweep calls them
`expired`.  `StatusPoller(provider).poll_once()` asks instead, one round:

1. the messages waiting for a report: each campaign (`keys.CAMPAIGNS`), its open index
   (ledger buckets with accepted or pending messages), each bucket's open states
   (`ledger.decode`);
2. the ref the worker kept for each (core.refs: `Ref(provider, ref)`); a message whose
   ref is this provider's and `usable` is asked about, one whose ledger names this
   provider but whose ref is missing or of a kind the reader cannot use is counted
   (`Round.skipped`), never guessed;
3. the reader (`providers.status.StatusReader`) gets them `refs_per_read` distinct refs
   at a time; the messages of one ref stay together (a ref shared by several messages,
   SmsManager's request id, is asked once per round), unless a ref's messages are spread
   over buckets further apart than the `refs_per_read` refs held back before a chunk goes;
4. before each `read`, the provider's `rate` (if it states one) is taken from a Redis
   GCRA limiter under `{provider}:status` (`core.limits`): every poller process of the
   account shares it, and a refused turn waits the time the limiter names;
5. what the reader answers is applied as delivery reports are (`ingest`): only states
   ahead of the message's own (a still-queued message is no report, a pending one
   already pending neither), recorded by `record.lua`'s rank rule (forward only, a
   duplicate changes nothing), bad numbers opted out, latency observed.  The reports
   already name our messageIds (the poller knows them from the refs), so they are not
   translated from gateway ids again.

A whole request that fails (throttled, refused, unreadable, no answer) ends the
provider's round with `Round.error`; the next round asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from config.settings import Settings
from core import keys, ledger, refs
from core.errors import ConfigError, GatewayError
from core.limits.limiter import AsyncLimiter
from core.outcomes import State, StreamPolicy, rank
from dispatcher.reports import ingest
from providers import registry, status
from providers.reports import DeliveryReport
from providers.status import Asked, StatusReader

log = logging.getLogger(__name__)


Sleep = Callable[[float], Awaitable[Any]]


@dataclass(slots=True)
class Round:
    """What one round of a provider's polling did."""

    provider: str
    asked: int = 0  # messages asked about
    applied: int = 0  # reports that moved a message forward
    skipped: int = 0  # waiting messages of this provider without a usable ref
    error: str = ""  # why the round stopped early ("" if it did not)

    def __str__(self) -> str:
        text = (
            f"{self.provider}: asked about {self.asked}, {self.applied} reports applied, "
            f"{self.skipped} without a ref to ask by"
        )
        return f"{text}; stopped: {self.error}" if self.error else text


def pollable(provider: str) -> bool:
    """Whether `provider` registers a status reader."""
    return registry.get(provider).status is not None


class StatusPoller:
    """Polls one provider's status reader for every message waiting for a report."""

    def __init__(
        self,
        client: Any,
        session: aiohttp.ClientSession,
        settings: Settings,
        provider: str,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        factory = registry.get(provider).status
        if factory is None:
            raise ConfigError("provider", f"provider {provider!r} cannot be asked for states")
        self.client = client
        self.provider = provider
        self.sleep = sleep
        self.reader: StatusReader = factory(session, settings)
        self.policy: StreamPolicy = settings.stream_policy
        self.learned_days = settings.optout_learned_days
        self.limiter = AsyncLimiter(client)

    async def poll_once(self) -> Round:
        """One round over every message waiting for a report of this provider."""
        counts = Round(self.provider)
        async for chunk in self._chunks(counts):
            await self._turn()
            try:
                reports = await self.reader.read(chunk)
            except GatewayError as exc:
                counts.error = f"{type(exc).__name__}: {exc}"
                log.warning("%s status poll stopped: %s", self.provider, counts.error)
                return counts
            counts.asked += len(chunk)
            counts.applied += await self.apply(news(chunk, reports))
        return counts

    async def _turn(self) -> None:
        """Wait until the provider's stated rate allows one more `read` (all processes)."""
        while wait_ms := await status.turn(self.limiter, self.provider, self.reader.rate):
            await self.sleep(wait_ms / 1000)

    async def apply(self, reports: Sequence[DeliveryReport]) -> int:
        """Record reports that already name our messageIds (no gateway-id translation).
        Returns how many changed a message."""
        return await ingest.apply_ours(self.client, reports, self.policy, self.learned_days)

    async def _chunks(self, counts: Round) -> AsyncIterator[list[Asked]]:
        """The waiting messages, `refs_per_read` distinct refs a chunk, a ref's messages
        together; as many refs again are held back before a chunk goes, so that a ref
        whose messages lie in several buckets is complete when it is asked about."""
        size = self.reader.refs_per_read
        pending: dict[str, list[Asked]] = {}
        async for asked in self._waiting(counts):
            pending.setdefault(asked.ref, []).append(asked)
            if len(pending) >= 2 * size:
                yield _take(pending, size)
        while pending:
            yield _take(pending, size)

    async def _waiting(self, counts: Round) -> AsyncIterator[Asked]:
        campaigns = [c.decode() async for c in self.client.sscan_iter(keys.CAMPAIGNS)]
        for campaign in campaigns:
            async for bucket, _score in self.client.zscan_iter(keys.campaign_open(campaign)):
                key = bucket.decode()
                for asked in await self._asked(campaign, key, counts):
                    yield asked

    async def _asked(self, campaign: str, key: str, counts: Round) -> list[Asked]:
        """The bucket's messages waiting for a report that this provider can be asked about."""
        waiting = open_states(campaign, key, await self.client.hgetall(key))
        kept = await refs.aget(self.client, campaign, waiting)
        out = []
        for message_id, state in waiting.items():
            ref = kept.get(message_id)
            if ref is not None and ref.provider == self.provider and self.reader.usable(ref.ref):
                out.append(Asked(message_id, ref.ref, state["to"], state["state"]))
            elif state["provider"] == self.provider:
                counts.skipped += 1
        return out


def open_states(campaign: str, key: str, raw: dict[Any, Any]) -> dict[str, dict[str, str]]:
    """The states of a bucket (HGETALL) that wait for a report, by messageId."""
    bucket = ledger.bucket_of(key)
    out = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        if name == ledger.LIVE_COUNT:
            continue
        state = ledger.decode(value)
        if state is not None and state["state"] in ledger.OPEN_STATES:
            out[ledger.message_id(campaign, bucket, name)] = state
    return out


def news(asked: Sequence[Asked], reports: Sequence[DeliveryReport]) -> list[DeliveryReport]:
    """The reports that move their message forward from the state it is in now."""
    now = {a.message_id: rank(State(a.state)) for a in asked}
    return [
        r
        for r in reports
        if r.message_id in now and rank(ingest.STATE_OF_REPORT[r.state]) > now[r.message_id]
    ]


def _take(pending: dict[str, list[Asked]], size: int) -> list[Asked]:
    """The messages of the oldest `size` refs, taken out of `pending`."""
    refs_taken = list(pending)[:size]
    return [asked for ref in refs_taken for asked in pending.pop(ref)]
