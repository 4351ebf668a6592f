"""Concurrent gateway requests per account (`SMS_MAX_CONCURRENCY`), over the Redis semaphore.

`Slots(limiter, settings).hold()` is held around every HTTP request to the gateway:
one slot of `sms:rl:sem:account` while the request runs (nothing when
SMS_MAX_CONCURRENCY is 0).  A slot expires by itself `SLOT_MARGIN_MS` after the
request's own timeout, so a worker killed mid-request gives its slot back without
anyone's help.  The sender claims its destinations *inside* the slot, so the
time a request waits for a slot never counts against its claim (workers.claims).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config.settings import Settings
from workers.limits import AsyncLimiter

SEMAPHORE = "account"
SLOT_MARGIN_MS = 5_000
POLL_MAX_MS = 20  # a refused acquire retries after min(hint, this): slots free up early


@asynccontextmanager
async def slot(limiter: AsyncLimiter, limit: int, ttl_ms: int) -> AsyncIterator[None]:
    """Hold one of `limit` slots for the duration of the block."""
    holder = uuid.uuid4().hex
    while (wait := await limiter.acquire(SEMAPHORE, limit, holder, ttl_ms)) > 0:
        await asyncio.sleep(min(wait, POLL_MAX_MS) / 1000)
    try:
        yield
    finally:
        await limiter.release(SEMAPHORE, holder)


class Slots:
    """The account's concurrency slots for one worker (see the module docstring)."""

    def __init__(self, limiter: AsyncLimiter | None, settings: Settings) -> None:
        self.limiter, self.limit = limiter, settings.max_concurrency
        self.ttl_ms = int(settings.http_timeout * 1000) + SLOT_MARGIN_MS

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        if self.limiter is None or self.limit <= 0:
            yield
            return
        async with slot(self.limiter, self.limit, self.ttl_ms):
            yield
