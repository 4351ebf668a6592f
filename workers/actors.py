"""The dramatiq actors. Run workers with:  dramatiq workers.actors -p N -t M

Importing this module builds the broker from the environment (REDIS_URL, ...)
and registers the actors; sessions and connections are opened later, per
process, by the `Runtime` middleware on dramatiq's event loop.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from config import settings as config
from dispatcher.batch import Batch
from workers import metrics, runtime
from workers.broker import CAMPAIGN_QUEUE, SEND_ACTOR, make_broker
from workers.gate import Gate
from workers.limits import AsyncLimiter
from workers.providers.ants.sender import AntsSender
from workers.sender import BatchSender
from workers.slots import limited

SEND_TIME_LIMIT_MS = 10 * 60_000
# Unexpected errors (a Redis blip while recording, a bug) retry the whole batch, which is
# idempotent by messageId: soon at first, then every 30 s, for about half an hour.
UNEXPECTED_RETRIES = 60
UNEXPECTED_MIN_BACKOFF_MS = 500
UNEXPECTED_MAX_BACKOFF_MS = 30_000

settings = config.load()
broker = make_broker(settings)
if settings.metrics_port:
    metrics.install(broker, settings.metrics_port)
broker.add_middleware(runtime.Runtime(settings))


@dramatiq.actor(
    actor_name=SEND_ACTOR,
    queue_name=CAMPAIGN_QUEUE,
    time_limit=SEND_TIME_LIMIT_MS,
    max_retries=UNEXPECTED_RETRIES,
    min_backoff=UNEXPECTED_MIN_BACKOFF_MS,
    max_backoff=UNEXPECTED_MAX_BACKOFF_MS,
)
async def send_batch(batch: dict[str, Any]) -> None:
    """Send one batch (see workers.sender). Unexpected errors are retried by dramatiq."""
    ctx = runtime.current()
    provider = AntsSender(ctx.session, ctx.settings)
    limiter = AsyncLimiter(ctx.redis)
    send = limited(provider.send, limiter, ctx.settings)
    gate = Gate(limiter, ctx.settings)  # one per run: it remembers flooding slots taken
    await BatchSender(ctx, send, gate).process(Batch.from_dict(batch))
