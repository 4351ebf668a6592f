"""Send one batch, end to end: skip what is done, send, act on every verdict, record.

The order of a run:
1. a paused campaign parks the batch (`sms:c:{id}:parked`) until `resume`;
2. destinations already sent (state rank >= accepted) are dropped: a redelivered
   or duplicated batch resends nothing the gateway has confirmed; suppressed
   numbers are recorded as such and dropped; expired ones are dead-lettered;
3. the limits gate (`workers.gate`) admits what may go now; short waits are slept
   in the worker and rechecked, longer ones deferred with a retry time;
4. what is admitted goes out, one request per gate decision, with a short
   in-process retry (tenacity) for connection errors and 5xx;
5. each destination's verdict decides: accepted, failed (maybe suppressed),
   retried later (only those destinations, same messageIds, exponential backoff
   with jitter, or the gateway's Retry-After), or pause the campaign;
6. everything is written in one `record.lua` call.
Follow-up batches are enqueued before the current message is acked, so a crash
anywhere leads to a resend with the same messageIds, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio.client import Pipeline
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from dispatcher import keys, lua
from dispatcher.batch import Batch, Destination
from dispatcher.errors import (
    GatewayAuthError,
    GatewayConnectError,
    GatewayError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from dispatcher.outcomes import RANK, Event, State, StreamPolicy, arecord
from workers.broker import enqueue_batch
from workers.gate import PACE_BUDGET_MS, split_held
from workers.metrics import METRICS
from workers.providers.ants.sender import MAX_VALIDITY_MINUTES, Result
from workers.providers.base import Action, Verdict
from workers.runtime import Context

log = logging.getLogger(__name__)

BACKOFF_BASE_MS = 1_000
BACKOFF_MAX_MS = 300_000
THROTTLE_DEFAULT_MS = 1_000
QUICK_ATTEMPTS = 3  # in-process tries for connection errors and 5xx (~1.5 s in all)
QUICK_WAIT_MAX_S = 0.8
DEADLETTER_TTL = 30 * 86400
UNSENT, SUPPRESSED = "0", "2"  # marks from unsent.lua ("1": already sent)

Send = Callable[[Batch], Awaitable[list[Result]]]
Gate = Callable[[Batch], Awaitable[tuple[list[Destination], list[tuple[Destination, int, str]]]]]


def backoff_ms(attempt: int) -> int:
    """Exponential backoff with jitter: ~1 s, 2 s, 4 s ... capped at 5 min."""
    ceiling = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1))
    return int(ceiling * random.uniform(0.5, 1.0))


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Plan:
    """What a run decided; carried out by `BatchSender._commit`."""

    batch: Batch
    events: list[Event] = field(default_factory=list)
    followups: dict[tuple[int, int], list[Destination]] = field(default_factory=dict)
    dead: list[tuple[Destination, str]] = field(default_factory=list)
    suppress: list[str] = field(default_factory=list)
    pause: str = ""
    park: list[Destination] = field(default_factory=list)
    _backoff: int = 0

    @property
    def validity_end(self) -> int:
        """When the gateway stops trying (the validityPeriod the sender asked for), epoch ms."""
        return min(self.batch.expires_at, now_ms() + MAX_VALIDITY_MINUTES * 60_000)

    @property
    def backoff(self) -> int:
        """One jittered backoff per run, so retried destinations travel together."""
        self._backoff = self._backoff or backoff_ms(self.batch.attempt)
        return self._backoff

    def event(self, d: Destination, state: State, v: Verdict | None = None, **kw: object) -> None:
        b = self.batch
        codes = {}
        if v is not None:
            codes = {"status_id": v.code, "status_name": v.name, "permanent": str(v.permanent)}
        self.events.append(Event(d.message_id, b.campaign, state, b.bulk_id, d.to,
                                 b.attempt, **codes, **kw))  # type: ignore[arg-type]  # fmt: skip


def _quick_retryable(exc: BaseException) -> bool:
    """Connection errors and 5xx, unless the gateway said how long to wait (Retry-After)."""
    quick = isinstance(exc, GatewayConnectError | GatewayServerError)
    return quick and not getattr(exc, "retry_after", None)


class BatchSender:
    def __init__(self, ctx: Context, send: Send, gate: Gate | None = None) -> None:
        self.ctx, self.send, self.gate = ctx, send, gate
        self.r = ctx.redis
        s = ctx.settings
        self.policy = StreamPolicy(maxlen=s.outcome_maxlen, final_ttl=s.final_ttl)

    async def process(self, batch: Batch) -> None:
        started = time.perf_counter()
        plan = Plan(batch)
        reason = await self.r.hget(keys.campaign_meta(batch.campaign), "paused")
        if reason:
            self._park(plan, list(batch.destinations), reason.decode())
        else:
            await self._run(plan)
        await self._commit(plan)
        METRICS.batch_took(time.perf_counter() - started)

    async def _run(self, plan: Plan) -> None:
        todo = await self._unsent(plan)
        todo = self._unexpired(plan, todo)
        if todo and self.gate is not None:
            todo = await self._gated(plan, todo)
        if todo:
            await self._send(plan, plan.batch.only(todo))

    async def _gated(self, plan: Plan, todo: list[Destination]) -> list[Destination]:
        """Send what the gate admits; sleep on short waits and recheck; defer the rest."""
        assert self.gate is not None
        deadline = now_ms() + PACE_BUDGET_MS
        while todo:
            admitted, held = await self.gate(plan.batch.only(todo))
            if admitted:
                await self._send(plan, plan.batch.only(admitted))
            until = min(deadline, plan.batch.expires_at)  # past the validity: deferred, so failed
            todo, defer, sleep_ms = split_held(held, until - now_ms())
            for dest, wait_ms, why in defer:
                self._later(plan, [dest], wait_ms, why, State.DEFERRED, counted=False)
            if todo:
                await asyncio.sleep(sleep_ms / 1000)
        return []

    async def _unsent(self, plan: Plan) -> list[Destination]:
        dests = plan.batch.destinations
        items = orjson.dumps([(d.message_id, d.to) for d in dests])
        args = [keys.message(""), RANK[State.ACCEPTED], items]
        marks = await lua.script(self.r, "unsent")(keys=[keys.SUPPRESSED], args=args)
        todo = []
        for d, mark in zip(dests, marks.decode(), strict=True):
            if mark == UNSENT:
                todo.append(d)
            elif mark == SUPPRESSED:
                plan.event(d, State.SUPPRESSED, reason="number is on the suppression list")
        return todo

    def _unexpired(self, plan: Plan, todo: list[Destination]) -> list[Destination]:
        if now_ms() < plan.batch.expires_at:
            return todo
        for d in todo:
            self._dead(plan, d, "validity period ended before it could be sent")
        return []

    async def _send(self, plan: Plan, batch: Batch) -> None:
        try:
            results = await self._send_quick(batch)
        except GatewayError as exc:
            return self._request_failed(plan, batch, exc)
        by_id = {r.message_id: r for r in results}
        missing = [d for d in batch.destinations if d.message_id not in by_id]
        for d in batch.destinations:
            if d.message_id in by_id:
                self._verdict(plan, d, by_id[d.message_id].verdict, by_id[d.message_id].group)
        if missing:
            self._later(plan, missing, plan.backoff, "missing from the answer",
                        State.RETRYING, counted=True)  # fmt: skip

    async def _send_quick(self, batch: Batch) -> list[Result]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(QUICK_ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=QUICK_WAIT_MAX_S),
            retry=retry_if_exception(_quick_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self.send(batch)
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_failed(self, plan: Plan, batch: Batch, exc: GatewayError) -> None:
        dests = list(batch.destinations)
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, GatewayAuthError):
            return self._park(plan, dests, why, pause=True)
        if isinstance(exc, GatewayRequestError):
            v = Verdict(Action.PERMANENT, str(exc.status or ""), "BAD_REQUEST", exc.body, True)
            for d in dests:
                plan.event(d, State.FAILED, v, reason=why[:300])
            return None
        self._again(plan, dests, why[:300], isinstance(exc, GatewayThrottled), exc.retry_after)
        return None

    def _verdict(self, plan: Plan, d: Destination, v: Verdict, group: str) -> None:
        a = v.action
        if a in (Action.ACCEPTED, Action.ALREADY_DONE):
            why = (
                "duplicate messageId: the gateway already has it"
                if a is Action.ALREADY_DONE
                else ""
            )
            plan.event(d, State.ACCEPTED, v, group=group, reason=why, expires_at=plan.validity_end)
        elif a is Action.PERMANENT:
            plan.event(d, State.FAILED, v, group=group, reason=v.description[:300])
            if v.suppress:
                plan.suppress.append(d.to)
        elif a is Action.FATAL:
            self._park(plan, [d], f"{v.code} {v.name}".strip(), pause=True)
        else:
            why = f"{v.code} {v.name}".strip()
            self._again(plan, [d], why, a is Action.THROTTLED, v.retry_after)

    def _again(self, plan: Plan, dests: Sequence[Destination], why: str, throttled: bool,
               retry_after: float | None) -> None:  # fmt: skip
        """Throttled: deferred, not counted; else retried as an attempt. The gateway's
        Retry-After wins; otherwise 1 s for throttling, the run's backoff for a retry."""
        delay = int((retry_after or 0) * 1000) or (
            THROTTLE_DEFAULT_MS if throttled else plan.backoff
        )
        state = State.DEFERRED if throttled else State.RETRYING
        self._later(plan, dests, delay, why, state, counted=not throttled)

    def _later(self, plan: Plan, dests: Sequence[Destination], delay: int, why: str,
               state: State, *, counted: bool) -> None:  # fmt: skip
        """Schedule these destinations again, unless attempts or validity run out."""
        b = plan.batch
        attempt = b.attempt + 1 if counted else b.attempt
        at = now_ms() + delay
        for d in dests:
            if counted and attempt > self.ctx.settings.max_attempts:
                self._dead(plan, d, f"gave up after {b.attempt} attempts: {why}")
            elif at >= b.expires_at:
                self._dead(plan, d, f"validity period ends before the next try: {why}")
            else:
                plan.event(d, state, reason=why, retry_at=at)
                plan.followups.setdefault((attempt, delay), []).append(d)

    def _dead(self, plan: Plan, d: Destination, why: str) -> None:
        plan.dead.append((d, why))
        plan.event(d, State.DEAD, reason=why[:300])

    def _park(self, plan: Plan, dests: list[Destination], why: str, pause: bool = False) -> None:
        plan.park += dests
        plan.pause = why if pause else plan.pause
        for d in dests:
            plan.event(d, State.PAUSED, reason=f"campaign paused: {why}"[:300])

    async def _commit(self, plan: Plan) -> None:
        broker = self.ctx.broker
        for (attempt, delay), dests in plan.followups.items():
            follow = plan.batch.only(dests, attempt=attempt)
            await asyncio.to_thread(enqueue_batch, broker, follow.to_dict(), delay)
        pipe = self.r.pipeline(transaction=True)
        self._commit_side_effects(pipe, plan)
        await pipe.execute()
        await arecord(self.r, plan.events, self.policy)
        METRICS.recorded(plan.events)

    def _commit_side_effects(self, p: Pipeline, plan: Plan) -> None:
        b = plan.batch
        meta = keys.campaign_meta(b.campaign)
        if plan.pause:
            p.hsetnx(meta, "paused", plan.pause)
            log.warning("campaign %s paused: %s", b.campaign, plan.pause)
        if plan.park:
            parked = orjson.dumps(b.only(plan.park).to_dict())
            p.rpush(keys.campaign_parked(b.campaign), parked)
        if plan.suppress:
            p.sadd(keys.SUPPRESSED, *plan.suppress)
        for d, why in plan.dead:
            entry = {"batch": orjson.dumps(b.only([d]).to_dict()), "reason": why, "at": now_ms()}
            p.hset(keys.deadletter(d.message_id), mapping=entry)
            p.expire(keys.deadletter(d.message_id), DEADLETTER_TTL)
            p.zadd(keys.DEADLETTERS, {d.message_id: now_ms()})
