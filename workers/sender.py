"""Send one batch through one provider, stage by stage: claim, gate, request, decide, record.

`BatchSender.process` runs the stages in order; each lives in its own module of
`workers.send`:
1. a paused campaign parks the batch (`core.pause`) until `resume`;
2. claim (`workers.send.claiming`): what is done or suppressed is dropped, what another
   run holds is deferred, what has an unknown outcome is asked about at the gateway;
3. gate (`workers.send.gating`): the validity, the delivery window and the limits gate
   (`workers.gate`) admit what may go now; the rest comes back later;
4. request (`workers.send.requesting`): one request per admitted group, inside a
   concurrency slot, with a short in-process retry, the claims checked last;
5. decide (`workers.send.deciding`): each destination's verdict becomes an event and
   maybe a follow-up, a dead letter, a suppression or a pause, in `Decisions`;
6. record (`workers.send.recording`): park, enqueue the follow-ups, then everything is
   written through `record.lua` (in chunks), which also ends this run's claims.
The message is acked only after that, so a crash anywhere leads to a resend of the
same messageIds, where the claim stage keeps anything from going out twice.

The path from a campaign to the HTTP request, one arrow per call (the broker's hop,
a message through Redis, is no call of ours):

    dispatcher.api.enqueue_campaign
     1 → dispatcher.campaign.Importer.run
     2 → Importer._emit                                   (the last batch; the others
                                                          from the import's Redis-side
                                                          thread: _settle → _emit)
     3 → core.queues.enqueue_batch                        (the enqueuer: a partial of it)
     4 → broker.enqueue                                   [Redis → a worker]
         workers.actors.send_batch                        (the function of both actors)
     5 → BatchSender.process                              (the stages, in order)
     6 → Gating._gated                                    (workers.send.gating)
     7 → Requesting._send_and_act                         (workers.send.requesting)
     8 → Requesting._attempts
     9 → provider.send                                    (e.g. providers.ants.sender)
    10 → providers.http.request

10 calls: 4 in the producer (dispatcher/), 6 in the worker from its actor; without the
limits gate (`gate=None`) `process` calls `_send_and_act` itself: 9.  A call that returns
before the send (the claim stage `_sendable`, the health count around the request) is
beside the path, not on it.  `tests/unit/test_call_path.py` counts it on the real stack.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core import optout
from core.batch import Batch, Destination
from core.outcomes import State, Waiting
from core.queues import enqueue_batch
from workers.claims import Mode
from workers.metrics import METRICS
from workers.send.claiming import CLAIM_ANSWER_MAX_MS, CLAIM_TRIES, monotonic
from workers.send.deciding import (
    BACKOFF_BASE_MS,
    BACKOFF_MAX_MS,
    BUSY_MIN_MS,
    THROTTLE_DEFAULT_MS,
    UNKNOWN_MARGIN_MS,
    Decisions,
    EventDetails,
    backoff_ms,
    grouped_delay,
    now_ms,
    retry_after_ms,
)
from workers.send.gating import STOPPING_DELAY_MS, Gating
from workers.send.recording import DEADLETTER_TTL, commit
from workers.send.requesting import MAX_SPLITS, QUICK_ATTEMPTS, QUICK_WAIT_MAX_S

__all__ = [
    "BACKOFF_BASE_MS",
    "BACKOFF_MAX_MS",
    "BUSY_MIN_MS",
    "CLAIM_ANSWER_MAX_MS",
    "CLAIM_TRIES",
    "DEADLETTER_TTL",
    "MAX_SPLITS",
    "QUICK_ATTEMPTS",
    "QUICK_WAIT_MAX_S",
    "STOPPING_DELAY_MS",
    "THROTTLE_DEFAULT_MS",
    "UNEXPECTED_BACKOFF_MS",
    "UNEXPECTED_MAX_BACKOFF_MS",
    "UNEXPECTED_TRIES",
    "UNKNOWN_MARGIN_MS",
    "BatchSender",
    "Decisions",
    "EventDetails",
    "backoff_ms",
    "grouped_delay",
    "monotonic",
    "now_ms",
    "retry_after_ms",
]

log = logging.getLogger(__name__)

UNEXPECTED_TRIES = 8  # runs of a batch that fail unexpectedly before its rest is dead-lettered
UNEXPECTED_BACKOFF_MS = 2_000  # doubled after each such run, capped below
UNEXPECTED_MAX_BACKOFF_MS = 300_000


class BatchSender(Gating):
    """Sends one batch through one provider: `process` runs the stages in order (the
    stage mixins: Gating → Requesting → Claiming → Deciding → SenderState)."""

    async def process(self, batch: Batch) -> None:
        started = time.perf_counter()
        plan = Decisions(batch, self.token, self.max_validity, self.name)
        numbers = [d.to for d in batch.destinations]  # one round trip for both reads
        reason, optouts = await asyncio.gather(
            self._paused(plan), optout.acheck(self.client, numbers)
        )
        if reason:
            self._park(plan, list(batch.destinations), reason)
        elif todo := await self._sendable(plan, optouts):
            if self.gate is not None:
                await self._gated(plan, todo)
            else:
                await self._send_and_act(plan, todo)
        counts, self._health_counts = self._health_counts, []  # health: written beside it
        await asyncio.gather(commit(self.ctx, plan), *counts)
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
        await commit(self.ctx, plan)

    async def _sendable(
        self, plan: Decisions, optouts: list[optout.Entry | None]
    ) -> list[Destination]:
        """What of the batch may be sent now: claimed (what has an unknown outcome asked
        about; `optouts`: each destination's opt-out entry, read already), its options and
        payload takeable here, inside its validity and window."""
        b = plan.batch
        found = await self._claim(plan, Mode.START, list(b.destinations), optouts)
        todo = found.ours + await self._reconcile(plan, found.unknown)
        if todo and self._only_asking(b):
            why = f"not at {self.name}, where it was asked about: sent through its route"
            self._later(plan, todo, 0, why, State.RETRYING, counted=False, waiting=Waiting.REROUTED)
            return []
        todo = self._options_taken(plan, todo)
        return self._in_window(plan, self._unexpired(plan, self._binary_sendable(plan, todo)))
