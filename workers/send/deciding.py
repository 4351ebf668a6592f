"""Stage: decide.  What each destination's outcome means for it, written into `Decisions`.

Accepted, failed (maybe suppressed), retried later (only those destinations, same
messageIds, exponential backoff with jitter, or the gateway's Retry-After), or pause
the campaign.  A request refused as a whole for a reason that cannot change by itself
(credentials, a wrong URL, too large) pauses the campaign, never burns its messages; an
answer that may hide an acceptance (timeout, unreadable, 502/504) keeps the claims, so
the next run asks the gateway before resending.  Nothing here writes to Redis or the
broker: `workers.send.recording` carries the decisions out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from core import clock, refs
from core.batch import Batch, Destination
from core.errors import (
    GatewayError,
    GatewayRequestError,
    GatewayThrottled,
)
from core.outcomes import Event, State, Waiting
from providers.base import Action, Result, Verdict
from providers.classify import MAX_RETRY_AFTER_S
from workers.metrics import METRICS
from workers.send.state import SenderState

log = logging.getLogger(__name__)

BACKOFF_BASE_MS = 1_000
BACKOFF_MAX_MS = 300_000
THROTTLE_DEFAULT_MS = 1_000
BUSY_MIN_MS = 1_000  # a destination another run holds is looked at again no sooner than this
UNKNOWN_MARGIN_MS = 1_000  # asked about this long after its claim has surely settled


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


def retry_after_ms(seconds: float | None) -> int:
    """A Retry-After (from a header or a code row) in ms; 0 when there is none."""
    if not seconds or not seconds > 0:  # None, 0 or NaN
        return 0
    return int(min(seconds, MAX_RETRY_AFTER_S) * 1000)


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
    """What a run decided; carried out by `workers.send.recording.commit`."""

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


class Deciding(SenderState):
    """What each destination's answer decides (a mixin of `workers.sender.BatchSender`)."""

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
