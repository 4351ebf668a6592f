"""Stage: gate.  What of the claimed destinations may go now, and when the rest comes back.

A run that came only to ask another provider sends nothing here; a binary batch at a
provider that cannot send binary (a route that failed over to it) fails, never sent as
text; what has outlived its validity is dead; with a delivery window, what is outside
it waits for it to open; then the limits gate (`workers.gate`) admits what may go now:
short waits are slept in the worker and rechecked, longer ones deferred with a retry
time.  Each admitted group goes to the request stage (`workers.send.requesting`).
"""

from __future__ import annotations

import asyncio

from core import window
from core.batch import OPTIONS_KEY, WINDOW_KEY, Batch, Destination
from core.options import SendOptions
from core.outcomes import State, Waiting
from core.window import Window
from providers import registry
from providers.base import Action, Verdict
from workers.gate import PACE_BUDGET_MS, Held, split_held
from workers.send.deciding import Decisions, now_ms
from workers.send.requesting import Requesting

STOPPING_DELAY_MS = 1_000  # what a stopping worker has not sent yet comes back this soon
OPTION_UNSUPPORTED = "OPTION_UNSUPPORTED"  # the code of a message asking what its gateway lacks
BINARY_UNSUPPORTED = "BINARY_UNSUPPORTED"  # the code of a binary message its gateway cannot send


class Gating(Requesting):
    """What may go now: the route asked for, the validity, the delivery window and the
    limits gate (a mixin of `workers.sender.BatchSender`)."""

    def _only_asking(self, b: Batch) -> bool:
        """This run came to ask this provider about unknown outcomes (`meta["ask"]`); what
        it does not have goes back through the routes (the provider may be down), unless
        the batch itself asked for this provider."""
        return b.meta.get("ask") == self.name and b.provider != self.name

    def _binary_sendable(self, plan: Decisions, todo: list[Destination]) -> list[Destination]:
        """A binary batch at a provider without binary (`Profile.binary`): every destination
        fails permanently, BINARY_UNSUPPORTED; none is ever sent as text."""
        if not todo or not self.binary_refusal or plan.batch.binary is None:
            return todo
        why = self.binary_refusal
        verdict = Verdict(Action.PERMANENT, BINARY_UNSUPPORTED, BINARY_UNSUPPORTED, why, True)
        for d in todo:
            plan.event(d, State.FAILED, verdict, reason=why)
        return []

    def _unexpired(self, plan: Decisions, todo: list[Destination]) -> list[Destination]:
        if now_ms() < plan.batch.expires_at:
            return todo
        for d in todo:
            self._dead(plan, d, "validity period ended before it could be sent")
        return []

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

    def _options_taken(self, plan: Decisions, todo: list[Destination]) -> list[Destination]:
        """A batch asking for message options this provider lacks (`Profile.lacks`: a route
        that failed over to it): every destination fails permanently, OPTION_UNSUPPORTED,
        never sent without them."""
        options = SendOptions.from_meta(plan.batch.meta.get(OPTIONS_KEY))
        if not todo or not options or not self.name:
            return todo
        why = registry.refusal(self.name, options)
        if not why:
            return todo
        verdict = Verdict(Action.PERMANENT, OPTION_UNSUPPORTED, OPTION_UNSUPPORTED, why, True)
        for d in todo:
            plan.event(d, State.FAILED, verdict, reason=why)
        return []

    async def _gated(self, plan: Decisions, todo: list[Destination]) -> None:
        """Send what the gate admits; sleep on short waits and recheck; defer the rest."""
        assert self.gate is not None
        deadline = now_ms() + PACE_BUDGET_MS
        while todo:  # the pause flag read beside the gate: one round trip for both
            (admitted, held), paused = await asyncio.gather(
                self.gate(plan.batch.only(todo)), self._paused(plan)
            )
            if admitted:
                await self._send_and_act(plan, admitted, paused)
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
