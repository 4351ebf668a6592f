"""Batches that go on the queue later: kept in Redis until due, then enqueued.

`later(client, campaign, due_ms, batches)` keeps them (a campaign's `--send-at`, a
destination outside its delivery window, a deferral longer than `IN_REDIS_AFTER_MS`);
`release(client, enqueue, now_ms)` puts what is due on the queue, and every worker
process runs it about once a second (`workers.runtime`).  Nothing waits in a worker's
memory (dramatiq keeps its delayed messages there), so a ten-million-recipient campaign
scheduled for tomorrow costs Redis memory only, and survives every worker restart.

A release that dies between enqueueing and `done` leaves the batches for the next one;
a batch enqueued twice is harmless (send claims let one copy send).  `schedule.lua` is
the one script (`_call` its wrapper); it touches the campaign's own key only, so it runs
on a Redis Cluster.

The due index (`sms:schedule`: campaign -> its earliest due) is written after each
script call, then checked: whoever changed a campaign's batches sets the index from
what the script saw, then reads the campaign's earliest due again and lowers (or
re-adds) the entry if it is earlier.  Two callers at once can only leave the index
early (a release that finds nothing due yet), never late or missing: the last one to
check sees every batch the others added before.  An add lowers the index to its due
before its script runs, so a caller that stops in between leaves the index early, not
without the campaign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from core import keys, lua

Enqueue = Callable[[dict[str, Any]], None]
IN_REDIS_AFTER_MS = 60_000  # a follow-up due later than this waits in Redis, not dramatiq
RELEASE_CAMPAIGNS = 20  # campaigns looked at per release call
RELEASE_BATCHES = 200  # batches of one campaign enqueued per release call
LOCK_MS = 10_000  # one releaser per campaign at a time (another is harmless, only waste)


def _call(client: Any, campaign: str, mode: str, *args: Any) -> Any:
    keys_ = [keys.campaign_scheduled(campaign)]
    return lua.script(client, "schedule")(keys=keys_, args=[mode, campaign, *args])


def _index(client: Any, campaign: str, reply: list[Any]) -> int:
    """Set the due index from a script's reply, then check it (module docstring)."""
    n, earliest = int(reply[0]), reply[1]
    if earliest:
        client.zadd(keys.SCHEDULE, {campaign: int(earliest)})
    else:
        client.zrem(keys.SCHEDULE, campaign)
    if first := client.zrange(keys.campaign_scheduled(campaign), 0, 0, withscores=True):
        client.zadd(keys.SCHEDULE, {campaign: first[0][1]}, lt=True)
    return n


async def _aindex(client: Any, campaign: str, reply: list[Any]) -> int:
    """`_index` with an asyncio client."""
    n, earliest = int(reply[0]), reply[1]
    if earliest:
        await client.zadd(keys.SCHEDULE, {campaign: int(earliest)})
    else:
        await client.zrem(keys.SCHEDULE, campaign)
    if first := await client.zrange(keys.campaign_scheduled(campaign), 0, 0, withscores=True):
        await client.zadd(keys.SCHEDULE, {campaign: first[0][1]}, lt=True)
    return n


def _added(batches: Sequence[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(b) for b in batches]


def later(client: Any, campaign: str, due_ms: int, batches: Sequence[dict[str, Any]]) -> int:
    """Keep these batches until `due_ms` (sync client); returns how many changed."""
    client.zadd(keys.SCHEDULE, {campaign: int(due_ms)}, lt=True)  # first: never missing
    reply = _call(client, campaign, "add", int(due_ms), *_added(batches))
    return _index(client, campaign, reply)


async def alater(client: Any, campaign: str, due_ms: int, batches: Sequence[dict[str, Any]]) -> int:
    """`later` with an asyncio client."""
    await client.zadd(keys.SCHEDULE, {campaign: int(due_ms)}, lt=True)
    reply = await _call(client, campaign, "add", int(due_ms), *_added(batches))
    return await _aindex(client, campaign, reply)


def release(client: Any, enqueue: Enqueue, now_ms: int) -> int:
    """Enqueue every batch due by `now_ms` (sync client); returns how many."""
    moved = 0
    for raw in client.zrange(
        keys.SCHEDULE, "-inf", now_ms, byscore=True, offset=0, num=RELEASE_CAMPAIGNS
    ):
        campaign = raw.decode()
        if not client.set(keys.schedule_lock(campaign), 1, nx=True, px=LOCK_MS):
            continue
        try:
            due = _call(client, campaign, "due", now_ms, RELEASE_BATCHES)
            for b in due:
                enqueue(orjson.loads(b))
            done(client, campaign, due)
            moved += len(due)
        finally:
            client.delete(keys.schedule_lock(campaign))
    return moved


def take(client: Any, campaign: str, limit: int = RELEASE_BATCHES) -> list[bytes]:
    """Up to `limit` of the campaign's scheduled batches, due or not (a cancel ends them);
    the caller calls `done` with them once it has dealt with them."""
    return list(_call(client, campaign, "due", "+inf", limit))


def done(client: Any, campaign: str, batches: Sequence[bytes]) -> int:
    if not batches:
        return 0
    return _index(client, campaign, _call(client, campaign, "done", *batches))


def scheduled(client: Any, campaign: str) -> tuple[int, int]:
    """How many batches of the campaign wait, and the earliest due (ms, 0: none)."""
    n = client.zcard(keys.campaign_scheduled(campaign))
    first = client.zrange(keys.campaign_scheduled(campaign), 0, 0, withscores=True)
    return n, int(first[0][1]) if first else 0
