"""Stage: request.  One request to the gateway per admitted group, and its answer acted on.

Inside a concurrency slot, with a short in-process retry (tenacity) for connection
errors and 5xx that prove nothing was taken; the request is numbered and the gateway's
own ids kept when the gateway has such; the claims are checked last, just before the
write.  A 400 about some destinations fails those and sends the rest at once.  Each
request is counted for its provider's health (`workers.health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core import keys
from core.batch import REQUEST_NUMBER_KEY, Batch, Destination
from core.errors import (
    GatewayConnectError,
    GatewayError,
    GatewayRequestError,
    GatewayServerError,
)
from core.outcomes import State, Waiting
from core.replies import text
from providers.base import Action, Result, Verdict
from workers import health
from workers.send.claiming import Claiming
from workers.send.deciding import Decisions

log = logging.getLogger(__name__)

QUICK_ATTEMPTS = 3  # in-process tries for connection errors and 5xx (~1.5 s in all)
QUICK_WAIT_MAX_S = 0.8
MAX_SPLITS = 20  # 400s naming destinations, answered by resending the rest, per request


def _quick_retryable(exc: BaseException) -> bool:
    """Connection errors and 5xx that prove nothing was taken, unless the gateway said how
    long to wait (Retry-After)."""
    if getattr(exc, "retry_after", None):
        return False
    if isinstance(exc, GatewayServerError):
        return not exc.maybe_sent
    return isinstance(exc, GatewayConnectError)


class Requesting(Claiming):
    """Send what was admitted and act on the answer (a mixin of
    `workers.sender.BatchSender`)."""

    async def _paused(self, plan: Decisions) -> str:
        """Why the batch's campaign is paused (or canceled): "" when it is not."""
        reason = await self.client.hget(keys.campaign_meta(plan.batch.campaign), "paused")
        return text(reason) if reason else ""

    async def _send_and_act(
        self, plan: Decisions, dests: list[Destination], paused: str | None = None
    ) -> None:
        """Claim, send and act on the answer; a 400 naming destinations fails those and
        sends the rest again at once.  A campaign paused (or canceled) meanwhile sends
        nothing more: these are parked.  `paused`: the pause flag as the caller read it
        just now, beside the limits gate (None: read it here)."""
        if reason := await self._paused(plan) if paused is None else paused:
            return self._park(plan, dests, reason)
        for _ in range(MAX_SPLITS):
            mine, results, exc = await self._attempts(plan, dests)
            if exc is None:
                return self._answered(plan, mine, results)
            if not (isinstance(exc, GatewayRequestError) and exc.message_ids):
                return self._request_failed(plan, mine, exc)
            bad = set(exc.message_ids)
            v = Verdict(Action.PERMANENT, str(exc.status or ""), "BAD_REQUEST", str(exc), True)
            for d in mine:
                if d.message_id in bad:
                    plan.event(d, State.FAILED, v, reason=f"refused by the gateway: {exc}"[:300])
            dests = [d for d in mine if d.message_id not in bad]
            if not dests:
                return None
        why = "too many destinations refused one after the other"
        self._later(
            plan, dests, plan.backoff, why, State.RETRYING, counted=True, waiting=Waiting.RETRY
        )
        return None

    async def _attempts(
        self, plan: Decisions, dests: list[Destination]
    ) -> tuple[list[Destination], list[Result], GatewayError | None]:
        """Up to QUICK_ATTEMPTS tries; each holds a slot, numbers the request and keeps the
        gateway's ids, then (re)claims: the claim is the last Redis step before the write,
        so a Redis stall anywhere before it cannot outlast the claim unnoticed."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(QUICK_ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=QUICK_WAIT_MAX_S),
            retry=retry_if_exception(_quick_retryable),
            reraise=True,
        )
        mine = dests
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.slots.hold():
                        prepared = await self._prepare(plan.batch.only(mine))
                        mine = await self._claimed(plan, mine)
                        if not mine:
                            return [], [], None
                        async with self._counted():  # nothing in Redis between claim and write
                            return mine, await self.provider.send(prepared.only(mine)), None
        except GatewayError as exc:
            return mine, [], exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _prepare(self, batch: Batch) -> Batch:
        """Before the claim check: the request's number, if the gateway knows requests by
        one, and the gateway's own ids of its destinations, if it has such, kept for report
        intake (a destination whose claim then turns out lost leaves a harmless mapping)."""
        if self.numbered:  # a number of ours the gateway knows the request by, unique
            n = await self.client.incr(keys.request_numbers(self.name))
            meta = {**batch.meta, REQUEST_NUMBER_KEY: (n - 1) % self.numbered + 1}
            batch = batch.only(list(batch.destinations), meta=meta)
        if pids := self.provider.provider_ids(batch):
            pipe = self.client.pipeline(transaction=False)
            for mid, pid in pids.items():  # report intake translates them back
                pipe.set(keys.provider_id(self.name, pid), mid, ex=self.policy.final_ttl)
            await pipe.execute()
        return batch

    @contextlib.asynccontextmanager
    async def _counted(self) -> AsyncIterator[None]:
        """Around one request to the gateway: counted for its health (failover,
        workers.health) once it is over, whatever it ended with; the count is written
        while the run goes on (`_health_counts`, awaited beside the run's record)."""
        started, failure = time.monotonic(), None
        try:
            yield
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            if self.name:
                count = self._count_health(failure, time.monotonic() - started)
                self._health_counts.append(asyncio.ensure_future(count))

    async def _count_health(self, failure: GatewayError | None, seconds: float) -> None:
        """Health is advice for routing: an error counting it (the client itself waits out
        Redis outages) must not hide what the gateway answered, which is recorded next."""
        try:
            s, name = self.ctx.settings, self.name
            if await health.record(self.client, s, name, failure, seconds, probe=self.probe):
                log.warning("provider %s is healthy again (its probe went well)", self.name)
        except RedisError as exc:
            log.warning("provider %s: its request was not counted for health: %s", self.name, exc)
