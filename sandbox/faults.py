"""Fault injection on the SMS send endpoints: latency, 500s, 429 bursts, timeouts after
accepting, and per-number injected rejections. Every random decision uses the
state's seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import asyncio
from enum import Enum

from aiohttp import web

from sandbox.settings import FaultSettings
from sandbox.state import SandboxState, TimeoutEvent


class Fault(Enum):
    NONE = "none"
    THROTTLE = "throttle"  # answer 429 with Retry-After
    ERROR = "error"  # answer 500 before accepting anything


class FaultInjector:
    def __init__(self, settings: FaultSettings, state: SandboxState) -> None:
        self.settings = settings
        self.state = state

    async def delay(self) -> None:
        """The configured latency, fixed plus jitter."""
        s = self.settings
        if s.latency_ms <= 0 and s.jitter_ms <= 0:
            return
        jitter = self.state.rng_faults.uniform(0, s.jitter_ms) if s.jitter_ms > 0 else 0.0
        await asyncio.sleep((s.latency_ms + jitter) / 1000)

    def before_accepting(self) -> Fault:
        """Decide, for one send request, whether it is throttled or fails with 500."""
        s, state = self.settings, self.state
        state.send_requests += 1
        n = state.send_requests
        every = s.throttle_every
        if every > 0 and n >= every and n % every < s.throttle_burst:
            return Fault.THROTTLE
        rng = state.rng_faults
        if s.throttle_share > 0 and rng.random() < s.throttle_share:
            return Fault.THROTTLE
        if s.error_share > 0 and rng.random() < s.error_share:
            return Fault.ERROR
        return Fault.NONE

    def times_out(self) -> bool:
        """Whether this (accepted) request should hang or drop instead of answering."""
        s, state = self.settings, self.state
        state.accepted_requests += 1
        if s.timeout_every > 0 and state.accepted_requests % s.timeout_every == 0:
            return True
        return s.timeout_share > 0 and state.rng_faults.random() < s.timeout_share

    def injected_status(self, to: str) -> str | None:
        """A rejection to inject for this number, counting down the rule's `times`."""
        for rule in self.settings.inject:
            if rule.matches(to) and self.state.injected[to] < rule.times:
                self.state.injected[to] += 1
                return rule.status
        return None


async def hang_or_drop(
    request: web.Request, state: SandboxState, faults: FaultSettings, event: TimeoutEvent
) -> None:
    """Taken and recorded (`event`): now hang past the client's timeout (this returns
    after `timeout_sleep_s`, and the caller answers then), or drop the connection."""
    state.timeouts.append(event)
    mode = faults.timeout_mode
    if mode == "mixed":  # either, at even odds
        mode = "drop" if state.rng_faults.random() < 0.5 else "sleep"
    if mode == "drop":
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    await asyncio.sleep(faults.timeout_sleep_s)
