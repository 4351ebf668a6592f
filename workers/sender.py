"""Send one batch, end to end: skip what is done, settle what is unknown, send, act, record.

The order of a run:
1. a paused campaign parks the batch (`core.pause`) until `resume`;
2. every destination is inspected (`workers.claims`): already sent (state rank >=
   accepted) or suppressed ones are dropped; one that another run may still be
   sending is deferred until that run has surely ended; one whose outcome is
   *unknown* (its run died, timed out, or could not read the answer) is taken over
   and the gateway is asked about it (`Provider.lookup`): what the gateway has is
   recorded as accepted, only the rest is sent;
3. the limits gate (`workers.gate`) admits what may go now; short waits are slept
   in the worker and rechecked, longer ones deferred with a retry time;
4. what is admitted is claimed and goes out, one request per gate decision, inside
   a concurrency slot, with a short in-process retry (tenacity) for connection
   errors and 5xx that prove nothing was taken;
5. each destination's verdict decides: accepted, failed (maybe suppressed),
   retried later (only those destinations, same messageIds, exponential backoff
   with jitter, or the gateway's Retry-After), or pause the campaign; a request
   refused as a whole for a reason that cannot change by itself (credentials, a
   wrong URL, too large) pauses the campaign, never burns its messages; a 400
   about some destinations fails those and sends the rest at once; an answer
   that may hide an acceptance (timeout, unreadable, 502/504) keeps the claims,
   so the next run asks the gateway before resending;
6. follow-ups are enqueued, then everything is written in one `record.lua` call
   that also ends this run's claims.
The message is acked only after that, so a crash anywhere leads to a resend of the
same messageIds, where step 2 keeps anything from going out twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict, Unpack

import orjson
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core import clock, keys, optout, pause, refs, schedule, unknown, window
from core.batch import REQUEST_NUMBER_KEY, WINDOW_KEY, Batch, Destination
from core.errors import (
    GatewayConnectError,
    GatewayError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from core.limits.limiter import AsyncLimiter
from core.outcomes import Event, State, Waiting, arecord
from core.queues import enqueue_batch
from core.replies import text
from core.window import Window
from providers import status
from providers.base import Action, Provider, Result, Verdict
from providers.classify import MAX_RETRY_AFTER_S
from providers.registry import Profile
from workers import health
from workers.claims import (
    RESTAMP_AFTER_MS,
    SETTLE_MARGIN_MS,
    Claims,
    Mode,
    Stage,
    Via,
    claims,
    settle_ms,
)
from workers.gate import PACE_BUDGET_MS, Gate, Held, split_held
from workers.metrics import METRICS
from workers.runtime import Context
from workers.slots import Slots

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

BACKOFF_BASE_MS = 1_000
BACKOFF_MAX_MS = 300_000
THROTTLE_DEFAULT_MS = 1_000
BUSY_MIN_MS = 1_000  # a destination another run holds is looked at again no sooner than this
UNKNOWN_MARGIN_MS = 1_000  # asked about this long after its claim has surely settled
STOPPING_DELAY_MS = 1_000  # what a stopping worker has not sent yet comes back this soon
QUICK_ATTEMPTS = 3  # in-process tries for connection errors and 5xx (~1.5 s in all)
QUICK_WAIT_MAX_S = 0.8
MAX_SPLITS = 20  # 400s naming destinations, answered by resending the rest, per request
DEADLETTER_TTL = 30 * 86400
UNEXPECTED_TRIES = 8  # runs of a batch that fail unexpectedly before its rest is dead-lettered
UNEXPECTED_BACKOFF_MS = 2_000  # doubled after each such run, capped below
UNEXPECTED_MAX_BACKOFF_MS = 300_000
# A CLAIM answered later than this after it was sent may have been stamped long enough
# before the request goes out that another run could take the claim over while the
# request is still on its way (that needs the settle time, whose margin is
# SETTLE_MARGIN_MS past the request's timeout): half the margin, for safety.
CLAIM_ANSWER_MAX_MS = SETTLE_MARGIN_MS // 2
CLAIM_TRIES = 3  # CLAIMs answered too late before the destinations are deferred


def monotonic() -> float:
    """The worker's clock for claim ages (a test moves it through a simulated stall)."""
    return time.monotonic()


def backoff_ms(attempt: int) -> int:
    """Exponential backoff with jitter: ~1 s, 2 s, 4 s ... capped at 5 min."""
    ceiling = min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1))
    return int(ceiling * random.uniform(0.5, 1.0))


def grouped_delay(delay_ms: int) -> int:
    """A follow-up delay rounded up, so the destinations of one run that wait about as
    long travel in one follow-up message (not one each): to 0.1 s under 2 s, to 1 s
    under a minute, to 10 s under 10 minutes, else to a minute."""
    for below, step in ((2_000, 100), (60_000, 1_000), (600_000, 10_000)):
        if delay_ms < below:
            return -(-delay_ms // step) * step
    return -(-delay_ms // 60_000) * 60_000


def now_ms() -> int:
    return clock.now_ms()


class EventDetails(TypedDict, total=False):
    """What a run says of one destination's outcome besides its state (core.outcomes.Event)."""

    group: str
    reason: str
    retry_at: int
    expires_at: int
    waiting: str


class _Codes(TypedDict, total=False):
    status_id: str
    status_name: str
    permanent: str


@dataclass
class Decisions:
    """What a run decided; carried out by `BatchSender._commit`."""

    batch: Batch
    token: str = ""  # this run's claim token
    max_validity_minutes: int = 0  # the gateway's cap on the validity it is given (0: none)
    provider: str = ""  # the gateway this run sends through
    events: list[Event] = field(default_factory=list)
    # (attempt, delay ms, provider the follow-up goes to to ask about them, or "") -> dests
    followups: dict[tuple[int, int, str], list[Destination]] = field(default_factory=dict)
    dead: list[tuple[Destination, str]] = field(default_factory=list)
    suppress: list[tuple[str, str]] = field(default_factory=list)  # (number, why): opt out
    pause: str = ""
    park: list[Destination] = field(default_factory=list)
    poll_refs: dict[str, refs.Ref] = field(default_factory=dict)  # where to ask about them later
    unknown: dict[str, bytes] = field(default_factory=dict)  # held unknown: core.unknown
    _backoff: int = 0

    @property
    def validity_end(self) -> int:
        """When the gateway stops trying (the validity the sender could give it), epoch ms."""
        if not self.max_validity_minutes:
            return self.batch.expires_at
        return min(self.batch.expires_at, now_ms() + self.max_validity_minutes * 60_000)

    @property
    def backoff(self) -> int:
        """One jittered backoff per run, so retried destinations travel together."""
        self._backoff = self._backoff or backoff_ms(self.batch.attempt)
        return self._backoff

    def event(
        self,
        d: Destination,
        state: State,
        v: Verdict | None = None,
        *,
        keep_claim: bool = False,
        **kw: Unpack[EventDetails],
    ) -> None:
        """One outcome event; it ends this run's claim on `d` unless `keep_claim`."""
        b = self.batch
        codes: _Codes = {}
        if v is not None:
            codes = {"status_id": v.code, "status_name": v.name, "permanent": str(v.permanent)}
        release = "" if keep_claim else self.token
        self.events.append(
            Event(
                d.message_id,
                b.campaign,
                state,
                b.bulk_id,
                d.to,
                b.attempt,
                release=release,
                provider=self.provider,
                **codes,
                **kw,
            )
        )


def _quick_retryable(exc: BaseException) -> bool:
    """Connection errors and 5xx that prove nothing was taken, unless the gateway said how
    long to wait (Retry-After)."""
    if getattr(exc, "retry_after", None):
        return False
    if isinstance(exc, GatewayServerError):
        return not exc.maybe_sent
    return isinstance(exc, GatewayConnectError)


class BatchSender:
    def __init__(
        self,
        ctx: Context,
        provider: Provider,
        gate: Gate | None = None,
        slots: Slots | None = None,
        profile: Profile | None = None,
        name: str = "",
        probe: bool = False,
    ) -> None:
        """`provider` sends (its registry `name`, `profile`); `gate` and `slots` are its
        limits; `probe`: the provider is marked down and this run's requests may restore it
        (workers.health)."""
        self.ctx = ctx
        self.provider = provider
        self.gate = gate
        self.name = name
        self.probe = probe
        self.slots = slots or Slots(None, ctx.settings)
        self.max_validity = profile.max_validity_minutes if profile else 0
        self.numbered = profile.numbered_requests if profile else 0
        self.proves_absence = profile.lookup_proves_absence if profile else True
        self.status_rate = profile.status_rate if profile else None  # lookups share it
        self.limiter = AsyncLimiter(ctx.redis)
        self.client = ctx.redis
        s = ctx.settings
        self.policy = s.stream_policy
        self.token = uuid.uuid4().hex  # this run's claims
        self.settle = settle_ms(s.http_timeout)
        self._stamped = 0.0  # monotonic time of the last claim call
        self._fresh: set[str] = set()  # messageIds it stamped, not yet sent under

    async def process(self, batch: Batch) -> None:
        started = time.perf_counter()
        plan = Decisions(batch, self.token, self.max_validity, self.name)
        reason = await self.client.hget(keys.campaign_meta(batch.campaign), "paused")
        if reason:
            self._park(plan, list(batch.destinations), text(reason))
        else:
            await self._run(plan)
        await self._commit(plan)
        METRICS.batch_took(time.perf_counter() - started)

    async def failed_run(self, batch: Batch, exc: Exception) -> None:
        """A run failed unexpectedly (a bug, an answer no code foresaw): try the batch again
        later (same messageIds; the failed run's claims make the next run ask the gateway
        first), and after UNEXPECTED_TRIES runs dead-letter what is left of it, so its
        campaign still finishes."""
        tries = int(batch.meta.get("failed_runs", 0)) + 1
        why = f"unexpected error: {type(exc).__name__}: {exc}"[:300]
        log.error(
            "%s: run %d of %d failed: %s", batch.bulk_id, tries, UNEXPECTED_TRIES, why, exc_info=exc
        )
        if tries >= UNEXPECTED_TRIES:
            return await self.dead_letter(batch, f"gave up after {tries} failed runs: {why}")
        delay = min(UNEXPECTED_MAX_BACKOFF_MS, UNEXPECTED_BACKOFF_MS * 2 ** (tries - 1))
        again = batch.only(list(batch.destinations), meta={**batch.meta, "failed_runs": tries})
        await asyncio.to_thread(enqueue_batch, self.ctx.broker, again.to_dict(), delay)
        return None

    async def dead_letter(self, batch: Batch, why: str) -> None:
        """Every destination of `batch` to the dead letters (what was sent stays as it is:
        the rank rule), keeping any claims so a replay asks the gateway first."""
        plan = Decisions(batch, self.token, self.max_validity, self.name)
        for d in batch.destinations:
            self._dead(plan, d, why, keep_claim=True)
        await self._commit(plan)

    async def _run(self, plan: Decisions) -> None:
        b = plan.batch
        found = await self._claim(plan, Mode.START, list(b.destinations))
        todo = found.ours + await self._reconcile(plan, found.unknown)
        if todo and self._only_asking(b):
            why = f"not at {self.name}, where it was asked about: sent through its route"
            self._later(plan, todo, 0, why, State.RETRYING, counted=False, waiting=Waiting.REROUTED)
            return
        todo = self._in_window(plan, self._unexpired(plan, todo))
        if todo and self.gate is not None:
            await self._gated(plan, todo)
        elif todo:
            await self._send_and_act(plan, todo)

    # ------------------------------------------------------------ claiming and asking

    async def _claim(self, plan: Decisions, mode: Mode, dests: list[Destination]) -> Claims:
        """Claim (START: take over settled claims too); record what is suppressed, defer what
        another run holds; remember which claims were stamped just now."""
        b = plan.batch
        via = Via(self.name, b.bulk_id, b.expires_at)
        stage = Stage.NONE
        if not self.proves_absence:  # staged: a claim whose request never left is not held
            stage = Stage.CLAIMED if mode is Mode.START else Stage.SENDING
        legacy = self.ctx.settings.provider
        started = monotonic()  # the stamps are at least this old
        c = await claims(
            self.client,
            mode,
            self.token,
            self.settle,
            b.campaign,
            via,
            dests,
            legacy=legacy,
            stage=stage,
        )
        for d in c.suppressed:
            plan.event(d, State.SUPPRESSED, reason=f"on the opt-out list ({c.why.get(d.to, '')})")
        why = "another run may still be sending it; waiting for its outcome"
        for d, wait in c.busy:
            self._later(
                plan,
                [d],
                max(BUSY_MIN_MS, wait + UNKNOWN_MARGIN_MS),
                why,
                State.DEFERRED,
                counted=False,
                keep_claim=True,
                waiting=Waiting.OUTCOME_UNKNOWN,
            )
        self._stamped = started
        self._fresh = {d.message_id for d in c.ours}
        return c

    async def _reconcile(
        self, plan: Decisions, unknown: list[tuple[Destination, Via]]
    ) -> list[Destination]:
        """Ask the gateway about settled claims we took over; record what it has; the rest
        is ours to send (its old stamp is re-stamped before the request).  A claim taken for
        another provider is settled with that one: those go there to be asked first."""
        elsewhere: dict[str, list[Destination]] = {}
        requests: dict[tuple[str, int], list[Destination]] = {}
        for d, via in unknown:
            if via.provider and via.provider != self.name:
                elsewhere.setdefault(via.provider, []).append(d)
            else:
                requests.setdefault((via.bulk_id, via.expires_at), []).append(d)
        for provider, dests in elsewhere.items():
            why = f"outcome unknown at {provider}: asked there first"
            self._later(
                plan,
                dests,
                0,
                why,
                State.RETRYING,
                counted=False,
                keep_claim=True,
                ask=provider,
                waiting=Waiting.OUTCOME_UNKNOWN,
            )
        todo: list[Destination] = []
        for (bulk_id, expires_at), dests in requests.items():
            asked = plan.batch.only(dests, bulk_id=bulk_id, expires_at=expires_at)
            todo += await self._ask(plan, asked)
        return todo

    async def _ask(self, plan: Decisions, asked: Batch) -> list[Destination]:
        """Ask the gateway about one request's destinations (`asked` carries the bulkId and
        validity end that request had); record what it has, return the rest."""
        mine = list(asked.destinations)
        if wait := await status.turn(self.limiter, self.name, self.status_rate):
            why = "outcome unknown: the gateway's status requests are used up for now"
            later = max(wait, BUSY_MIN_MS)
            self._later(
                plan,
                mine,
                later,
                why,
                State.RETRYING,
                counted=False,
                keep_claim=True,
                ask=self.name,
                waiting=Waiting.OUTCOME_UNKNOWN,
            )
            return []
        try:
            async with self.slots.hold():  # a lookup is a request too (SMSC.ru: at most 4)
                found = await self.provider.lookup(asked)
        except GatewayError as exc:
            why = f"outcome unknown and the gateway could not be asked: {exc}"[:300]
            self._later(
                plan,
                mine,
                max(plan.backoff, self.settle, retry_after_ms(exc.retry_after)),
                why,
                State.RETRYING,
                counted=False,
                keep_claim=True,
                ask=self.name,
                waiting=Waiting.OUTCOME_UNKNOWN,
            )
            return []
        log.info(
            "%s: asked %s about %d destinations with an unknown outcome: it has %d",
            asked.bulk_id,
            self.name or "the gateway",
            len(mine),
            len(found),
        )
        self._verdicts(plan, [d for d in mine if d.message_id in found], found)
        rest = [d for d in mine if d.message_id not in found]
        if rest and not self.proves_absence:
            self._hold(plan, rest)
            return []
        return rest

    def _hold(self, plan: Decisions, dests: list[Destination]) -> None:
        """The gateway may have these and its lookup cannot say it has not (it proves no
        absence): `unknown`, never resent by itself; kept for an operator (core.unknown)."""
        why = (
            f"outcome unknown: {self.name or 'the gateway'} may have taken it and cannot say "
            "it has not; held, not resent (resend or drop it: smsdispatch unknown)"
        )
        log.warning("%s: %d destinations held unknown", plan.batch.bulk_id, len(dests))
        for d in dests:
            plan.event(d, State.UNKNOWN, reason=why)
        plan.unknown.update(unknown.entries(plan.batch, dests, why, now_ms()))

    def _only_asking(self, b: Batch) -> bool:
        """This run came to ask this provider about unknown outcomes (`meta["ask"]`); what
        it does not have goes back through the routes (the provider may be down), unless
        the batch itself asked for this provider."""
        return b.meta.get("ask") == self.name and b.provider != self.name

    def _in_window(self, plan: Decisions, todo: list[Destination]) -> list[Destination]:
        """With a delivery window (`meta["window"]`): what is inside it now; the rest
        waits for its opening (never sent early), or fails when its validity ends first."""
        raw = plan.batch.meta.get(WINDOW_KEY)
        if not raw or not todo:
            return todo
        w, now, fallback = Window.parse(raw), now_ms(), self.ctx.settings.window_timezone
        ready: list[Destination] = []
        waits: dict[int, list[Destination]] = {}
        for d in todo:
            at = window.opening(w, d.to, now, fallback)
            if not at:
                ready.append(d)
            elif at >= plan.batch.expires_at:
                why = f"its validity ends before its delivery window {w} opens"
                plan.event(d, State.FAILED, reason=why)
            else:
                waits.setdefault(at, []).append(d)
        for at, dests in sorted(waits.items()):
            why = f"outside its delivery window {w} (local time): waits for it to open"
            self._later(
                plan, dests, at - now, why, State.DEFERRED, counted=False, waiting=Waiting.WINDOW
            )
        return ready

    def _unexpired(self, plan: Decisions, todo: list[Destination]) -> list[Destination]:
        if now_ms() < plan.batch.expires_at:
            return todo
        for d in todo:
            self._dead(plan, d, "validity period ended before it could be sent")
        return []

    # ------------------------------------------------------------ pacing and sending

    async def _gated(self, plan: Decisions, todo: list[Destination]) -> None:
        """Send what the gate admits; sleep on short waits and recheck; defer the rest."""
        assert self.gate is not None
        deadline = now_ms() + PACE_BUDGET_MS
        while todo:
            admitted, held = await self.gate(plan.batch.only(todo))
            if admitted:
                await self._send_and_act(plan, admitted)
            until = min(deadline, plan.batch.expires_at)  # past the validity: deferred, so failed
            todo, defer, sleep_ms = split_held(held, until - now_ms())
            self._defer(plan, defer)
            if todo and self.ctx.stopping.is_set():
                self._later(
                    plan,
                    todo,
                    STOPPING_DELAY_MS,
                    "worker stopping",
                    State.DEFERRED,
                    counted=False,
                    waiting=Waiting.WORKER_STOPPING,
                )
                return
            if todo:
                await asyncio.sleep(sleep_ms / 1000)

    def _defer(self, plan: Decisions, held: list[Held]) -> None:
        """Held back by a limit: throughput-paced ones all come back when the head of the
        line may go (one follow-up, gated again then), the others each at its own time."""
        paced = [h for h in held if h.paced]
        if paced:
            head = min(h.wait for h in paced)
            self._later(
                plan,
                [h.dest for h in paced],
                head,
                paced[0].why,
                State.DEFERRED,
                counted=False,
                waiting=paced[0].code,
            )
        for h in held:
            if not h.paced:
                self._later(
                    plan, [h.dest], h.wait, h.why, State.DEFERRED, counted=False, waiting=h.code
                )

    async def _send_and_act(self, plan: Decisions, dests: list[Destination]) -> None:
        """Claim, send and act on the answer; a 400 naming destinations fails those and
        sends the rest again at once.  A campaign paused (or canceled) meanwhile sends
        nothing more: these are parked."""
        if reason := await self.client.hget(keys.campaign_meta(plan.batch.campaign), "paused"):
            return self._park(plan, dests, text(reason))
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
                        return mine, await self._request(prepared.only(mine)), None
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

    async def _request(self, batch: Batch) -> list[Result]:
        """One request to the gateway, counted for its health (failover, workers.health);
        nothing in Redis between the claim check and the write."""
        started, failure = time.monotonic(), None
        try:
            return await self.provider.send(batch)
        except GatewayError as exc:
            failure = exc
            raise
        finally:
            if self.name:
                await self._count_health(failure, time.monotonic() - started)

    async def _count_health(self, failure: GatewayError | None, seconds: float) -> None:
        """Health is advice for routing: an error counting it (the client itself waits out
        Redis outages) must not hide what the gateway answered, which is recorded next."""
        try:
            s, name = self.ctx.settings, self.name
            if await health.record(self.client, s, name, failure, seconds, probe=self.probe):
                log.warning("provider %s is healthy again (its probe went well)", self.name)
        except RedisError as exc:
            log.warning("provider %s: its request was not counted for health: %s", self.name, exc)

    async def _claimed(self, plan: Decisions, dests: list[Destination]) -> list[Destination]:
        """What of `dests` this run may send now: claims stamped a moment ago (measured from
        before the call that stamped them) are still good; older ones (pacing, quick
        retries, asked about, a slow Redis) are re-stamped (CLAIM), which never takes
        another run's claim: one taken over meanwhile is not ours any more.  A CLAIM whose
        answer came too late to be sure no other run could take it over yet is tried
        again; Redis that slow defers them (nothing sent)."""
        staged = not self.proves_absence  # the stamp must say the request leaves now
        for _ in range(CLAIM_TRIES):
            fresh = monotonic() - self._stamped < RESTAMP_AFTER_MS / 1000
            if fresh and not staged and all(d.message_id in self._fresh for d in dests):
                self._fresh.difference_update(d.message_id for d in dests)  # once per request
                return dests
            dests = (await self._claim(plan, Mode.CLAIM, dests)).ours
            if not dests or monotonic() - self._stamped < CLAIM_ANSWER_MAX_MS / 1000:
                return dests
        why = "Redis answered claims too slowly to send safely"
        self._later(
            plan, dests, BUSY_MIN_MS, why, State.DEFERRED, counted=False, waiting=Waiting.REDIS_SLOW
        )
        return []

    def _answered(self, plan: Decisions, mine: list[Destination], results: list[Result]) -> None:
        by_id = {r.message_id: r for r in results}
        self._verdicts(plan, [d for d in mine if d.message_id in by_id], by_id)
        missing = [d for d in mine if d.message_id not in by_id]
        if missing:
            self._unknown(plan, missing, "missing from the gateway's answer")

    def _verdicts(
        self, plan: Decisions, dests: list[Destination], by_id: dict[str, Result]
    ) -> None:
        """Act on each destination's verdict.  A FATAL code that may concern one destination
        only (no route to its network) pauses only when every destination of the request
        got a fatal code; otherwise just that destination fails."""
        fatal = [by_id[d.message_id].verdict.action is Action.FATAL for d in dests]
        account_wide = len(dests) > 1 and all(fatal)
        for d in dests:
            r = by_id[d.message_id]
            v = r.verdict
            if v.action is Action.FATAL and v.per_destination and not account_wide:
                v = Verdict(Action.PERMANENT, v.code, v.name, v.description, True)
            self._verdict(plan, d, v, r.group)
            if v.sent and (ref := r.poll_ref or r.provider_id):
                plan.poll_refs[d.message_id] = refs.Ref(self.name, ref)
            if v.sent and r.state:  # taken and already final (a lookup saw it)
                plan.event(d, State(r.state), v, group=r.group, reason=v.description[:300])

    def _verdict(self, plan: Decisions, d: Destination, v: Verdict, group: str) -> None:
        a = v.action
        if a in (Action.ACCEPTED, Action.ALREADY_DONE):
            why = v.description if a is Action.ALREADY_DONE else ""
            plan.event(d, State.ACCEPTED, v, group=group, reason=why, expires_at=plan.validity_end)
        elif a is Action.PERMANENT:
            plan.event(d, State.FAILED, v, group=group, reason=v.description[:300])
            if v.suppress:
                plan.suppress.append((d.to, f"{self.name} {v.code} {v.name}".strip()))
        elif a is Action.FATAL:
            self._park(plan, [d], f"{v.code} {v.name}".strip(), pause=True)
        else:
            why = f"{v.code} {v.name}".strip()
            self._again(plan, [d], why, a is Action.THROTTLED, v.retry_after)

    def _request_failed(self, plan: Decisions, dests: list[Destination], exc: GatewayError) -> None:
        why = f"{type(exc).__name__}: {exc}"[:300]
        if exc.maybe_sent:
            return self._unknown(plan, dests, why)
        if exc.fatal or isinstance(exc, GatewayRequestError):
            return self._park(plan, dests, why, pause=True)
        self._again(plan, dests, why, isinstance(exc, GatewayThrottled), exc.retry_after)
        return None

    def _unknown(self, plan: Decisions, dests: list[Destination], why: str) -> None:
        """The gateway may have taken these: keep the claims; the next run asks it first."""
        why = f"outcome unknown ({why}): the gateway is asked before any resend"[:300]
        log.info(
            "%s: %d destinations with an unknown outcome at %s",
            plan.batch.bulk_id,
            len(dests),
            self.name or "the gateway",
        )
        self._later(
            plan,
            dests,
            self.settle + UNKNOWN_MARGIN_MS,
            why,
            State.RETRYING,
            counted=False,
            keep_claim=True,
            waiting=Waiting.OUTCOME_UNKNOWN,
        )

    # ------------------------------------------------------------ deciding what comes next

    def _again(
        self,
        plan: Decisions,
        dests: Sequence[Destination],
        why: str,
        throttled: bool,
        retry_after: float | None,
    ) -> None:
        """Throttled: deferred, not counted; else retried as an attempt. The gateway's
        Retry-After wins (up to a day); otherwise 1 s for throttling, the run's backoff."""
        delay = retry_after_ms(retry_after) or (THROTTLE_DEFAULT_MS if throttled else plan.backoff)
        state = State.DEFERRED if throttled else State.RETRYING
        code = Waiting.GATEWAY_THROTTLED if throttled else Waiting.RETRY
        self._later(plan, dests, delay, why, state, counted=not throttled, waiting=code)

    def _later(
        self,
        plan: Decisions,
        dests: Sequence[Destination],
        delay: int,
        why: str,
        state: State,
        *,
        counted: bool,
        waiting: Waiting,
        keep_claim: bool = False,
        ask: str = "",
    ) -> None:
        """Schedule these destinations again, unless attempts or validity run out; a follow-up
        goes through the routes again, unless it goes to `ask` that provider about them.
        `waiting`: why, as a reason code (counted per campaign while they wait)."""
        b = plan.batch
        attempt = b.attempt + 1 if counted else b.attempt
        at = now_ms() + delay
        put_off = 0
        for d in dests:
            if counted and attempt > self.ctx.settings.max_attempts:
                self._dead(plan, d, f"gave up after {b.attempt} attempts: {why}", keep_claim)
            elif at >= b.expires_at:
                self._dead(plan, d, f"validity period ends before the next try: {why}", keep_claim)
            else:
                plan.event(
                    d, state, reason=why, retry_at=at, keep_claim=keep_claim, waiting=waiting
                )
                key = (attempt, grouped_delay(delay), ask)
                plan.followups.setdefault(key, []).append(d)
                put_off += 1
        METRICS.deferred(state.value, waiting, put_off)  # the dead ones are not put off

    def _dead(self, plan: Decisions, d: Destination, why: str, keep_claim: bool = False) -> None:
        plan.dead.append((d, why))
        plan.event(d, State.DEAD, reason=why[:300], keep_claim=keep_claim)

    def _park(
        self, plan: Decisions, dests: list[Destination], why: str, pause: bool = False
    ) -> None:
        plan.park += dests
        plan.pause = why if pause else plan.pause
        for d in dests:
            plan.event(d, State.PAUSED, reason=f"campaign paused: {why}"[:300])

    # ------------------------------------------------------------ carrying it out

    async def _commit(self, plan: Decisions) -> None:
        await self._park_or_resend(plan)
        broker = self.ctx.broker
        for (attempt, delay, ask), dests in plan.followups.items():
            meta = {k: v for k, v in plan.batch.meta.items() if k != "ask"}
            follow = plan.batch.only(
                dests, attempt=attempt, meta={**meta, **({"ask": ask} if ask else {})}
            )
            if delay > schedule.IN_REDIS_AFTER_MS:  # waits in Redis, not in a worker's memory
                await schedule.alater(
                    self.client, follow.campaign, now_ms() + delay, [follow.to_dict()]
                )
            else:
                await asyncio.to_thread(enqueue_batch, broker, follow.to_dict(), delay)
        await self._side_effects(plan)
        await unknown.aput(self.client, plan.batch.campaign, plan.unknown)  # before the state
        if plan.poll_refs:
            await refs.aput(self.client, plan.batch.campaign, plan.poll_refs, self.policy.final_ttl)
        await arecord(self.client, plan.events, self.policy)
        METRICS.recorded(plan.events)

    async def _park_or_resend(self, plan: Decisions) -> None:
        """Park atomically with the pause check; resumed meanwhile: send them on now."""
        if not plan.park:
            return
        b = plan.batch
        answer = await pause.park(self.client, b.campaign, b.only(plan.park).to_dict(), plan.pause)
        if answer == pause.PARKED:
            if plan.pause:
                log.warning("campaign %s paused: %s", b.campaign, plan.pause)
            return
        ids = {d.message_id for d in plan.park}  # not parked: their `paused` events go
        plan.events = [e for e in plan.events if e.message_id not in ids or e.state != State.PAUSED]
        if answer == pause.CANCELED:
            for d in plan.park:
                plan.event(d, State.CANCELED, reason=pause.CANCEL_REASON)
            return
        why = "campaign resumed while this batch was being parked"
        for d in plan.park:
            plan.event(d, State.DEFERRED, reason=why, waiting=Waiting.RESUMED)
        plan.followups.setdefault((b.attempt, 0, ""), []).extend(plan.park)

    async def _side_effects(self, plan: Decisions) -> None:
        """Suppressions and dead letters: plain idempotent writes (safe to repeat)."""
        if not (plan.suppress or plan.dead):
            return
        if plan.suppress:
            days = self.ctx.settings.optout_learned_days
            await optout.aadd(self.client, optout.learned(plan.suppress, days))
        if not plan.dead:
            return
        b, at = plan.batch, now_ms()
        pipe = self.client.pipeline(transaction=False)
        for d, why in plan.dead:
            entry: dict[FieldT, EncodableT] = {
                "batch": orjson.dumps(b.only([d]).to_dict()),
                "reason": why,
                "at": at,
                "campaign": b.campaign,
            }
            pipe.hset(keys.deadletter(d.message_id), mapping=entry)
            pipe.expire(keys.deadletter(d.message_id), DEADLETTER_TTL)
            pipe.zadd(keys.DEADLETTERS, {d.message_id: at})
        pipe.zremrangebyscore(keys.DEADLETTERS, "-inf", at - DEADLETTER_TTL * 1000)
        await pipe.execute()


def retry_after_ms(seconds: float | None) -> int:
    """A Retry-After (from a header or a code row) in ms; 0 when there is none."""
    if not seconds or not seconds > 0:  # None, 0 or NaN
        return 0
    return int(min(seconds, MAX_RETRY_AFTER_S) * 1000)
