"""Stage: claim.  Which destinations of the batch this run may send (`workers.claims`).

Already sent (state rank >= accepted) or suppressed ones are dropped; one that another
run may still be sending is deferred until that run has surely ended; one whose outcome
is *unknown* (its run died, timed out, or could not read the answer) is taken over and
the gateway is asked about it (`Provider.lookup`): what the gateway has is recorded as
accepted, only the rest is sent.  Right before each request the claims are checked
again (`_claimed`): the claim is the last Redis step before the write.
"""

from __future__ import annotations

import logging
import time

from core import optout, unknown
from core.batch import Batch, Destination
from core.errors import GatewayError
from core.outcomes import State, Waiting
from providers import status
from workers.claims import (
    RESTAMP_AFTER_MS,
    SETTLE_MARGIN_MS,
    Claims,
    Mode,
    Stage,
    Via,
    claims,
)
from workers.send.deciding import (
    BUSY_MIN_MS,
    UNKNOWN_MARGIN_MS,
    Deciding,
    Decisions,
    now_ms,
    retry_after_ms,
)

log = logging.getLogger(__name__)

# A CLAIM answered later than this after it was sent may have been stamped long enough
# before the request goes out that another run could take the claim over while the
# request is still on its way (that needs the settle time, whose margin is
# SETTLE_MARGIN_MS past the request's timeout): half the margin, for safety.
CLAIM_ANSWER_MAX_MS = SETTLE_MARGIN_MS // 2
CLAIM_TRIES = 3  # CLAIMs answered too late before the destinations are deferred


def monotonic() -> float:
    """The worker's clock for claim ages (a test moves it through a simulated stall)."""
    return time.monotonic()


class Claiming(Deciding):
    """Claim the batch's destinations, ask the gateway about unknown outcomes, re-stamp
    claims before a request (a mixin of `workers.sender.BatchSender`)."""

    async def _claim(
        self,
        plan: Decisions,
        mode: Mode,
        dests: list[Destination],
        optouts: list[optout.Entry | None] | None = None,
    ) -> Claims:
        """Claim (START: take over settled claims too); record what is suppressed, defer what
        another run holds; remember which claims were stamped just now.  `optouts`: each
        destination's opt-out entry when the caller read them already."""
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
            optouts=optouts,
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

    def _ask_later(
        self, plan: Decisions, dests: list[Destination], delay_ms: int, why: str
    ) -> list[Destination]:
        """Not asked now: these come back after `delay_ms`, their claims kept, to be asked
        here again; nothing of them goes on in this run."""
        self._later(
            plan,
            dests,
            delay_ms,
            why,
            State.RETRYING,
            counted=False,
            keep_claim=True,
            ask=self.name,
            waiting=Waiting.OUTCOME_UNKNOWN,
        )
        return []

    async def _ask(self, plan: Decisions, asked: Batch) -> list[Destination]:
        """Ask the gateway about one request's destinations (`asked` carries the bulkId and
        validity end that request had); record what it has, return the rest."""
        mine = list(asked.destinations)
        if wait := await status.turn(self.limiter, self.name, self.status_rate):
            why = "outcome unknown: the gateway's status requests are used up for now"
            return self._ask_later(plan, mine, max(wait, BUSY_MIN_MS), why)
        try:
            async with self.slots.hold():  # a lookup is a request too (SMSC.ru: at most 4)
                found = await self.provider.lookup(asked)
        except GatewayError as exc:
            why = f"outcome unknown and the gateway could not be asked: {exc}"[:300]
            delay = max(plan.backoff, self.settle, retry_after_ms(exc.retry_after))
            return self._ask_later(plan, mine, delay, why)
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
