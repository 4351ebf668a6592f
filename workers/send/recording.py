"""Stage: record.  What a run decided (`Decisions`), carried out.

Parked destinations are parked atomically with the pause check (resumed meanwhile:
sent on now); follow-ups are enqueued (long waits wait in Redis, core.schedule);
suppressions and dead letters are written; then every event goes to `record.lua`
(`core.outcomes.arecord`, `CHUNK` events a call), which also ends this run's claims.
The message is acked only after that, so a crash anywhere leads to a resend of the same
messageIds, where the claim stage keeps anything from going out twice: an event already
recorded made its message sent (dropped), one not yet recorded left its claim (asked
about at the gateway first), so a crash between two of those calls is no worse than one
before the first (core.outcomes says why each event alone needs to be atomic).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson

from core import keys, optout, pause, refs, schedule, unknown
from core.outcomes import State, Waiting, arecord
from core.queues import enqueue_batch
from workers.metrics import METRICS
from workers.runtime import Context
from workers.send.deciding import Decisions, now_ms

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

DEADLETTER_TTL = 30 * 86400


async def commit(ctx: Context, plan: Decisions) -> None:
    """Carry out what a run decided: park, enqueue the follow-ups, the side effects, then
    every event through `record.lua` (in chunks), which also ends this run's claims."""
    client = ctx.redis
    policy = ctx.settings.stream_policy
    await park_or_resend(client, plan)
    broker = ctx.broker
    for (attempt, delay, ask), dests in plan.followups.items():
        meta = {k: v for k, v in plan.batch.meta.items() if k != "ask"}
        follow = plan.batch.only(
            dests, attempt=attempt, meta={**meta, **({"ask": ask} if ask else {})}
        )
        if delay > schedule.IN_REDIS_AFTER_MS:  # waits in Redis, not in a worker's memory
            await schedule.alater(client, follow.campaign, now_ms() + delay, [follow.to_dict()])
        else:
            await asyncio.to_thread(enqueue_batch, broker, follow.to_dict(), delay)
    await side_effects(ctx, plan)
    await unknown.aput(client, plan.batch.campaign, plan.unknown)  # before the state
    if plan.poll_refs:
        await refs.aput(client, plan.batch.campaign, plan.poll_refs, policy.final_ttl)
    await arecord(client, plan.events, policy)
    METRICS.recorded(plan.events)


async def park_or_resend(client: Redis, plan: Decisions) -> None:
    """Park atomically with the pause check; resumed meanwhile: send them on now."""
    if not plan.park:
        return
    b = plan.batch
    answer = await pause.park(client, b.campaign, b.only(plan.park).to_dict(), plan.pause)
    if answer == pause.PARKED:
        if plan.pause:
            log.warning("campaign %s paused: %s", b.campaign, plan.pause)
        return
    ids = {d.message_id for d in plan.park}  # not parked: their `paused` events go
    plan.events = [e for e in plan.events if e.message_id not in ids or e.state != State.PAUSED]
    if answer == pause.CANCELED:
        for d in plan.park:
            plan.event(d, State.CANCELED, reason=pause.CANCEL_REASON)
        return
    why = "campaign resumed while this batch was being parked"
    for d in plan.park:
        plan.event(d, State.DEFERRED, reason=why, waiting=Waiting.RESUMED)
    plan.followups.setdefault((b.attempt, 0, ""), []).extend(plan.park)


async def side_effects(ctx: Context, plan: Decisions) -> None:
    """Suppressions and dead letters: plain idempotent writes (safe to repeat)."""
    if not (plan.suppress or plan.dead):
        return
    if plan.suppress:
        days = ctx.settings.optout_learned_days
        await optout.aadd(ctx.redis, optout.learned(plan.suppress, days))
    if not plan.dead:
        return
    b, at = plan.batch, now_ms()
    pipe = ctx.redis.pipeline(transaction=False)
    for d, why in plan.dead:
        entry: dict[FieldT, EncodableT] = {
            "batch": orjson.dumps(b.only([d]).to_dict()),
            "reason": why,
            "at": at,
            "campaign": b.campaign,
        }
        pipe.hset(keys.deadletter(d.message_id), mapping=entry)
        pipe.expire(keys.deadletter(d.message_id), DEADLETTER_TTL)
        pipe.zadd(keys.DEADLETTERS, {d.message_id: at})
    pipe.zremrangebyscore(keys.DEADLETTERS, "-inf", at - DEADLETTER_TTL * 1000)
    await pipe.execute()
