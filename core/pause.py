"""Pausing a campaign: parking its batches, resuming them, canceling, dropping destinations.

A campaign pauses when its account or configuration cannot send (out of credit,
credentials refused, a wrong URL: see `core.errors.GatewayMisconfigured`), or when an
operator pauses it (`pause`): every worker checks before each request, so sending stops
within one request's time, and the batches in hand are parked, not sent.
Its batches are then *parked* (`sms:c:{id}:parked`, the batch as it travels on the
queue) until `resume`, which clears the pause and puts every parked batch back on
the queue.  Nothing is lost or parked for good:

* `park` (park.lua) checks the pause and parks in one step, so a worker that
  decided to park just as a resume ran sends its batch on instead of parking it
  behind the finished resume;
* `resume` clears the pause first (unpark.lua: only if the campaign is not canceled,
  checked in the same step, so a cancel is never undone), then takes the batches one
  at a time through `sms:c:{id}:unparking` (unpark.lua), so two resumes at once never
  take the same batch or skip one, a batch whose resume died half-way goes back to
  the list (after `STALE_UNPARK_MS`) for the next resume, and a cancel landing while
  a resume runs stops it taking more: the cancel ends the rest canceled;
* `drop` takes single destinations out of the parked batches (an operator's
  decision, e.g. a number no route reaches): each ends `canceled`;
* `cancel` marks the campaign canceled (and paused), then ends every parked
  destination and every destination of its scheduled batches (`core.schedule`)
  `canceled`; a batch that meets the mark later (in a worker's hands, a delayed
  retry) ends canceled there (park.lua answers 2).  A canceled campaign cannot be
  resumed, and stays paused for every worker.  `canceled` is final, and never replaces
  a message that was sent (record.lua).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis

from core import keys, lua, schedule
from core.batch import Batch, Destination
from core.errors import CampaignCanceled
from core.outcomes import Event, State, StreamPolicy, Waiting, record

Enqueue = Callable[[dict[str, Any]], None]
DROP_REASON = "dropped by an operator from a parked batch"
OPERATOR_PAUSE = "paused by an operator"
CANCEL_REASON = "campaign canceled by an operator"
RESUME_REASON = "campaign resumed: back on the queue"
PARKED, NOT_PAUSED, CANCELED = 1, 0, 2  # park.lua's answers
STALE_UNPARK_MS = 30_000  # a batch taken off the list this long ago: its resume died
CANCELED_FIELD = "canceled"  # the campaign meta's field marking a cancel (its time, ms)
RESUMING = "1"  # unpark.lua `take` for a resume: stops once the campaign is canceled


def park(client: Any, campaign: str, batch: dict[str, Any], pause_reason: str = "") -> Any:
    """Park `batch` if the campaign is paused (pausing it first with `pause_reason`).

    Works with a sync or an asyncio client (then returns an awaitable); the answer is
    PARKED, NOT_PAUSED (the batch must go on) or CANCELED (end its destinations)."""
    meta, parked = keys.campaign_meta(campaign), keys.campaign_parked(campaign)
    return lua.script(client, "park")(keys=[meta, parked], args=[pause_reason, orjson.dumps(batch)])


def _unpark(client: redis.Redis, campaign: str, mode: str, arg: Any = "") -> Any:
    """The one wrapper of unpark.lua: resume | take | done | recover (see the script)."""
    keys_ = [
        keys.campaign_parked(campaign),
        keys.campaign_unparking(campaign),
        keys.campaign_meta(campaign),
    ]
    return lua.script(client, "unpark")(keys=keys_, args=[mode, arg])


def pause(client: redis.Redis, campaign: str, reason: str = OPERATOR_PAUSE) -> bool:
    """Pause the campaign (a pause already there keeps its reason); True if it was not."""
    return bool(client.hsetnx(keys.campaign_meta(campaign), "paused", reason))


def canceled(client: redis.Redis, campaign: str) -> bool:
    return bool(client.hexists(keys.campaign_meta(campaign), CANCELED_FIELD))


def cancel(client: redis.Redis, enqueue: Enqueue, campaign: str, policy: StreamPolicy) -> int:
    """Cancel the campaign: nothing more of it is sent; its parked destinations end
    `canceled` now (returns how many), the others when a worker meets them."""
    mark_canceled(client, campaign)
    return _take_out(client, enqueue, campaign, None, CANCEL_REASON, policy) + _unschedule(
        client, campaign, policy
    )


def mark_canceled(client: redis.Redis, campaign: str) -> None:
    """Cancel's first step: the campaign canceled and paused, in one transaction (a resume
    never clears `paused` of a canceled campaign: unpark.lua)."""
    meta = keys.campaign_meta(campaign)
    pipe = client.pipeline(transaction=True)
    pipe.hsetnx(meta, CANCELED_FIELD, int(time.time() * 1000))
    pipe.hset(meta, "paused", CANCEL_REASON)
    pipe.execute()


def _unschedule(client: redis.Redis, campaign: str, policy: StreamPolicy) -> int:
    """End every destination of the campaign's scheduled batches canceled."""
    ended = 0
    while raws := schedule.take(client, campaign):
        events = []
        for raw in raws:
            b = Batch.from_dict(orjson.loads(raw))
            events += _canceled(b, b.destinations, CANCEL_REASON)
        record(client, events, policy)  # before `done`: a cancel that dies is run again
        schedule.done(client, campaign, raws)
        ended += len(events)
    return ended


def resume(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    batch_size: int = 0,
    policy: StreamPolicy | None = None,
) -> int:
    """Clear the pause and put every parked batch back on the queue; returns how many.

    `batch_size`: a parked batch larger than this goes back as several (a campaign paused
    by 413 Payload Too Large finishes after SMS_BATCH_SIZE is lowered).  Each batch's
    messages are recorded `deferred` (reason code `resumed`, no longer `paused`) before it
    is taken, so a worker's decision about them always comes after (`policy`: where their
    events go; a batch another resume took first is left to the workers' records).
    Raises CampaignCanceled for a canceled campaign."""
    if _unpark(client, campaign, "resume") == CANCELED:  # checked and cleared in one step
        raise CampaignCanceled(f"campaign {campaign!r} was canceled: it cannot be resumed")
    _unpark(client, campaign, "recover", STALE_UNPARK_MS)
    moved = 0
    while True:
        # the next batch's messages recorded before it is taken, so nothing is written between
        # the take and the enqueue (a cancel landing meanwhile ends them canceled instead)
        if (head := client.lindex(keys.campaign_parked(campaign), 0)) is not None:
            record(client, _resumed(Batch.from_dict(orjson.loads(head))), policy or StreamPolicy())
        if (raw := _unpark(client, campaign, "take", RESUMING)) is None:  # None: canceled
            break
        for part in _split(Batch.from_dict(orjson.loads(raw)), batch_size):
            enqueue(part.to_dict())  # a crash here leaves raw in `unparking`: recovered later
        _unpark(client, campaign, "done", raw)
        moved += 1
    return moved


def _resumed(batch: Batch) -> list[Event]:
    return [
        Event(
            d.message_id,
            batch.campaign,
            State.DEFERRED,
            batch.bulk_id,
            d.to,
            reason=RESUME_REASON,
            waiting=Waiting.RESUMED,
        )
        for d in batch.destinations
    ]


def _split(batch: Batch, size: int) -> Iterable[Batch]:
    dests = list(batch.destinations)
    if size <= 0 or len(dests) <= size:
        yield batch
        return
    for i in range(0, len(dests), size):
        yield batch.only(dests[i : i + size])


def parked(client: redis.Redis, campaign: str) -> list[dict[str, Any]]:
    """The parked destinations: messageId, to, bulkId."""
    out = []
    for raw in client.lrange(keys.campaign_parked(campaign), 0, -1):
        batch = Batch.from_dict(orjson.loads(raw))
        out += [
            {"messageId": d.message_id, "to": d.to, "bulkId": batch.bulk_id}
            for d in batch.destinations
        ]
    return out


def drop(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    message_ids: Iterable[str],
    policy: StreamPolicy,
) -> int:
    """Take these destinations out of the campaign's parked batches; each ends canceled.

    A batch edited while a resume runs is not parked again behind it: what is left of
    it goes on the queue (park.lua decides)."""
    return _take_out(client, enqueue, campaign, set(message_ids), DROP_REASON, policy)


def _take_out(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    wanted: set[str] | None,
    reason: str,
    policy: StreamPolicy,
) -> int:
    """End these destinations of the parked batches `canceled` (None: all of them)."""
    _unpark(client, campaign, "recover", STALE_UNPARK_MS)
    dropped: list[Event] = []
    for _ in range(client.llen(keys.campaign_parked(campaign))):
        raw = _unpark(client, campaign, "take")
        if raw is None:
            break
        batch = Batch.from_dict(orjson.loads(raw))
        keep = [d for d in batch.destinations if wanted is not None and d.message_id not in wanted]
        gone = [d for d in batch.destinations if d not in keep]
        dropped += _canceled(batch, gone, reason)
        answer = park(client, campaign, batch.only(keep).to_dict()) if keep else PARKED
        if answer == NOT_PAUSED:
            enqueue(batch.only(keep).to_dict())
        elif answer == CANCELED:  # canceled meanwhile: the rest ends canceled too
            dropped += _canceled(batch, keep, CANCEL_REASON)
        _unpark(client, campaign, "done", raw)
    record(client, dropped, policy)
    return len(dropped)


def _canceled(batch: Batch, dests: Iterable[Destination], reason: str) -> list[Event]:
    return [
        Event(d.message_id, batch.campaign, State.CANCELED, batch.bulk_id, d.to, reason=reason)
        for d in dests
    ]
