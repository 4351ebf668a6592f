"""The dramatiq actors. Run workers with:  dramatiq workers.actors -p N -t M

Importing this module builds the broker from the environment (REDIS_URL, ...)
and registers the actors; sessions and connections are opened later, per
process, by the `Runtime` middleware on dramatiq's event loop.

Two actors run the same code: `send_batch` (queue `campaign`) and
`send_transactional` (queue `transactional`, a higher priority, so a
transactional batch that a worker prefetched behind campaign batches is taken
by the next free thread, not after them).

An unexpected error in a run (a bug, a gateway answer no code foresaw) never
strands a batch (`BatchSender.failed_run`): it is tried again by our own follow-up,
then what is left of it goes to *our* dead letters (`smsdispatch deadletters`), so
the campaign finishes.  dramatiq's own retries stay as the last resort for an error
in that handling itself; when they run out, `batch_exhausted` dead-letters the
batch the same way, never into dramatiq's own dead-letter queue.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from config import CONFIG_EXIT_CODE
from config import settings as config
from core.batch import Batch
from core.errors import ConfigError
from core.limits import AsyncLimiter
from core.queues import (
    CAMPAIGN_QUEUE,
    SEND_ACTOR,
    TRANSACTIONAL_ACTOR,
    TRANSACTIONAL_QUEUE,
    make_broker,
)
from providers import registry
from workers import metrics, routes, runtime
from workers.gate import Gate
from workers.sender import BatchSender
from workers.slots import Slots

log = logging.getLogger(__name__)

SEND_TIME_LIMIT_MS = 10 * 60_000
# dramatiq's own retries: only for an error in BatchSender.failed_run itself (a bug there)
BACKSTOP_RETRIES = 3
CAMPAIGN_PRIORITY = 10
TRANSACTIONAL_PRIORITY = 0  # lower runs first in a worker's queue of prefetched messages
EXHAUSTED_ACTOR = "batch_exhausted"

try:  # a worker without the credentials its providers need refuses to start
    settings = config.load()
    registry.check(settings)
    config.require_credentials(settings, lambda name: registry.get(name).configured(settings))
except ConfigError as exc:
    log.critical("%s", exc)
    raise SystemExit(CONFIG_EXIT_CODE) from None
broker = make_broker(
    settings.broker_url,
    settings.redis_url,
    settings.heartbeat_timeout_ms,
    settings.maintenance_chance,
)
if settings.metrics_port:
    metrics.install(broker, settings.metrics_port)
broker.add_middleware(runtime.Runtime(settings))


def _sender(ctx: runtime.Context, provider: str, probe: bool = False) -> BatchSender:
    spec = registry.get(provider)
    limiter = AsyncLimiter(ctx.redis)
    gate = Gate(limiter, ctx.settings, spec.profile, provider)  # one per run: it remembers
    slots = Slots(limiter, ctx.settings, spec.profile, provider)  # flooding slots taken
    return BatchSender(
        ctx, spec.sender(ctx.session, ctx.settings), gate, slots, spec.profile, provider, probe
    )


async def send_batch(raw: dict[str, Any]) -> None:
    """The function of both sending actors (campaign, transactional): send one batch
    through the providers its routes choose (workers.routes), each part (at most the
    provider's `max_batch` numbers: one request) by its own BatchSender; an unexpected error
    is handled there too."""
    batch = Batch.from_dict(raw)
    ctx = runtime.current().lane(batch.transactional)
    for leg in await routes.assign(ctx.redis, ctx.settings, batch):
        if leg.provider not in registry.names():  # asked for by a producer of another setup
            why = f"no provider {leg.provider!r} in this worker (known: {registry.names()})"
            await _sender(ctx, ctx.settings.provider).dead_letter(batch.only(leg.dests), why)
            continue
        size = registry.get(leg.provider).profile.max_batch  # numbers per request
        for i in range(0, len(leg.dests), size):
            part = batch.only(leg.dests[i : i + size])
            sender = _sender(ctx, leg.provider, leg.probe)
            try:
                await sender.process(part)
            except Exception as exc:
                await sender.failed_run(part, exc)


_OPTIONS: dict[str, Any] = {
    "time_limit": SEND_TIME_LIMIT_MS,
    "max_retries": BACKSTOP_RETRIES,
    "on_retry_exhausted": EXHAUSTED_ACTOR,
}


send_campaign_batch = dramatiq.actor(
    actor_name=SEND_ACTOR, queue_name=CAMPAIGN_QUEUE, priority=CAMPAIGN_PRIORITY, **_OPTIONS
)(send_batch)
send_transactional = dramatiq.actor(
    actor_name=TRANSACTIONAL_ACTOR,
    queue_name=TRANSACTIONAL_QUEUE,
    priority=TRANSACTIONAL_PRIORITY,
    **_OPTIONS,
)(send_batch)


@dramatiq.actor(actor_name=EXHAUSTED_ACTOR, queue_name=TRANSACTIONAL_QUEUE, max_retries=None)
async def batch_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """dramatiq gave up on a batch: dead-letter it with us (never its own dead-letter queue)."""
    ctx = runtime.current()
    batch = Batch.from_dict(message["args"][0])
    why = f"gave up after {retry_info.get('retries', '?')} failed runs (dramatiq's retries)"
    known = batch.provider in registry.names()
    await _sender(ctx, batch.provider if known else ctx.settings.provider).dead_letter(batch, why)
