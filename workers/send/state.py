"""What a run holds: the sender's provider, limits and facts, and this run's claim token.

Every stage reads these from the sender at call time (a test may change one after the
sender is built, e.g. `name` or `proves_absence`).
"""

from __future__ import annotations

import asyncio
import uuid

from core.limits.limiter import AsyncLimiter
from providers import registry
from providers.base import Provider
from providers.registry import Profile
from workers.claims import settle_ms
from workers.gate import Gate
from workers.runtime import Context
from workers.slots import Slots


class SenderState:
    """The sender's state, shared by its stages (`workers.send`)."""

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
        # lookups share it with the poller
        self.status_rate = registry.status_rate(name, ctx.settings) if profile and name else None
        # why this provider cannot send a binary batch ("" when it can: core.binary)
        self.binary_refusal = registry.binary_refusal(name) if profile and name else ""
        self.limiter = AsyncLimiter(ctx.redis)
        self.client = ctx.redis
        s = ctx.settings
        self.policy = s.stream_policy
        self.token = uuid.uuid4().hex  # this run's claims
        self.settle = settle_ms(s.http_timeout)
        self._stamped = 0.0  # monotonic time of the last claim call
        self._fresh: set[str] = set()  # messageIds it stamped, not yet sent under
        self._health_counts: list[asyncio.Future[None]] = []  # its requests' (being written)
