"""Batches that go on the queue later: kept in Redis until due, then enqueued.

`later(client, campaign, due_ms, batches)` keeps them (a campaign's `--send-at`, a
destination outside its delivery window, a deferral longer than `IN_REDIS_AFTER_MS`);
`release(client, enqueue, now_ms)` puts what is due on the queue, and every worker
process runs it about once a second (`workers.runtime`).  Nothing waits in a worker's
memory (dramatiq keeps its delayed messages there), so a ten-million-recipient campaign
scheduled for tomorrow costs Redis memory only, and survives every worker restart.

A release that dies between enqueueing and `done` leaves the batches for the next one;
a batch enqueued twice is harmless (send claims let one copy send).  `schedule.lua` is
the one script; `later` and `release` are its wrappers.
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
    keys_ = [keys.campaign_scheduled(campaign), keys.SCHEDULE]
    return lua.script(client, "schedule")(keys=keys_, args=[mode, campaign, *args])


def later(client: Any, campaign: str, due_ms: int, batches: Sequence[dict[str, Any]]) -> Any:
    """Keep these batches until `due_ms` (sync client, or an awaitable with an async one)."""
    return _call(client, campaign, "add", int(due_ms), *(orjson.dumps(b) for b in batches))


def release(client: Any, enqueue: Enqueue, now_ms: int) -> int:
    """Enqueue every batch due by `now_ms` (sync client); returns how many."""
    moved = 0
    for raw in client.zrange(keys.SCHEDULE, "-inf", now_ms, byscore=True, offset=0,
                             num=RELEASE_CAMPAIGNS):  # fmt: skip
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
    return int(_call(client, campaign, "done", *batches)) if batches else 0


def scheduled(client: Any, campaign: str) -> tuple[int, int]:
    """How many batches of the campaign wait, and the earliest due (ms, 0: none)."""
    n = client.zcard(keys.campaign_scheduled(campaign))
    first = client.zrange(keys.campaign_scheduled(campaign), 0, 0, withscores=True)
    return n, int(first[0][1]) if first else 0
