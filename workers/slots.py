"""Concurrent gateway requests per account (`SMS_MAX_CONCURRENCY`), over the Redis semaphore.

`limited(send, limiter, settings)` wraps a provider's `send` so that every HTTP
request holds one slot of `sms:rl:sem:account` while it runs.  A slot expires
by itself `SLOT_MARGIN_MS` after the request's own timeout, so a worker killed
mid-request gives its slot back without anyone's help.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from config.settings import Settings
from dispatcher.batch import Batch
from workers.limits import AsyncLimiter

SEMAPHORE = "account"
SLOT_MARGIN_MS = 5_000
POLL_MAX_MS = 20  # a refused acquire retries after min(hint, this): slots free up early

T = TypeVar("T")


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


def limited(
    send: Callable[[Batch], Awaitable[T]], limiter: AsyncLimiter, settings: Settings
) -> Callable[[Batch], Awaitable[T]]:
    """`send` itself when SMS_MAX_CONCURRENCY is 0, else `send` inside a slot."""
    if settings.max_concurrency <= 0:
        return send
    ttl_ms = int(settings.http_timeout * 1000) + SLOT_MARGIN_MS

    async def send_in_slot(batch: Batch) -> T:
        async with slot(limiter, settings.max_concurrency, ttl_ms):
            return await send(batch)

    return send_in_slot
