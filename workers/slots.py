"""Concurrent gateway requests per provider account, over the Redis semaphore.

`Slots(limiter, settings, profile, provider).hold()` is held around every HTTP request
to the gateway (sends and lookups): one slot of `sms:rl:sem:{provider}:account` while
the request runs.  The cap is the lower of SMS_MAX_CONCURRENCY and the provider's own
(`Profile.concurrency`, SMSC.ru: 4); none when neither is set.  A slot expires by
itself `SLOT_MARGIN_MS` after the request's own timeout, so a worker killed mid-request
gives its slot back without anyone's help.  The sender claims its destinations
*inside* the slot, so the time a request waits for a slot never counts against its
claim (workers.claims).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config.settings import Settings
from core.limits import AsyncLimiter
from providers.registry import Profile

SEMAPHORE = "account"
SLOT_MARGIN_MS = 5_000
POLL_MAX_MS = 20  # a refused acquire retries after min(hint, this): slots free up early


@asynccontextmanager
async def slot(
    limiter: AsyncLimiter, limit: int, ttl_ms: int, name: str = SEMAPHORE
) -> AsyncIterator[None]:
    """Hold one of `limit` slots of semaphore `name` for the duration of the block."""
    holder = uuid.uuid4().hex
    while (wait := await limiter.acquire(name, limit, holder, ttl_ms)) > 0:
        await asyncio.sleep(min(wait, POLL_MAX_MS) / 1000)
    try:
        yield
    finally:
        await limiter.release(name, holder)


class Slots:
    """The account's concurrency slots for one worker (see the module docstring)."""

    def __init__(
        self,
        limiter: AsyncLimiter | None,
        settings: Settings,
        profile: Profile | None = None,
        provider: str = "",
    ) -> None:
        """The lower of SMS_MAX_CONCURRENCY and the gateway's own cap (SMSC.ru: 4), where
        set; one semaphore per provider account."""
        self.limiter = limiter
        caps = [c for c in (settings.max_concurrency, profile.concurrency if profile else 0) if c]
        self.limit = min(caps, default=0)
        self.name = f"{provider}:{SEMAPHORE}" if provider else SEMAPHORE
        self.ttl_ms = int(settings.http_timeout * 1000) + SLOT_MARGIN_MS

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        if self.limiter is None or self.limit <= 0:
            yield
            return
        async with slot(self.limiter, self.limit, self.ttl_ms, self.name):
            yield
