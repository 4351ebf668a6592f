"""core.schedule: batches wait in Redis until due, then go on the queue once (per release)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from core import keys, schedule


def b(seq: int) -> dict[str, Any]:
    return {"c": "c", "s": seq, "b": f"c-b{seq}", "d": []}


def test_batches_wait_until_due_then_go_once(store: redis.Redis) -> None:
    schedule.later(store, "c", 2_000, [b(0), b(1)])
    schedule.later(store, "c", 1_000, [b(2)])
    schedule.later(store, "c", 5_000, [b(2)])  # already there: keeps its earlier due
    assert store.zscore(keys.SCHEDULE, "c") == 1_000
    out: list[dict[str, Any]] = []
    assert schedule.release(store, out.append, 999) == 0
    assert schedule.release(store, out.append, 1_000) == 1 and out == [b(2)]
    assert store.zscore(keys.SCHEDULE, "c") == 2_000
    assert schedule.release(store, out.append, 10_000) == 2
    assert [x["s"] for x in out] == [2, 0, 1]
    assert schedule.release(store, out.append, 10_000) == 0
    assert store.zscore(keys.SCHEDULE, "c") is None  # nothing left: out of the index
    assert schedule.scheduled(store, "c") == (0, 0)


def test_a_release_that_dies_leaves_the_batches_for_the_next(store: redis.Redis) -> None:
    schedule.later(store, "c", 1_000, [b(0)])

    def dies(batch: dict[str, Any]) -> None:
        raise ConnectionError("killed while enqueueing")

    with pytest.raises(ConnectionError):
        schedule.release(store, dies, 5_000)
    out: list[dict[str, Any]] = []
    assert schedule.release(store, out.append, 5_000) == 1 and out == [b(0)]


def test_one_releaser_per_campaign_at_a_time(store: redis.Redis) -> None:
    schedule.later(store, "c", 1_000, [b(0)])
    store.set(keys.schedule_lock("c"), 1)  # another worker is at it
    out: list[dict[str, Any]] = []
    assert schedule.release(store, out.append, 5_000) == 0 and out == []


def test_a_stale_index_write_is_repaired_by_its_own_check(store: redis.Redis) -> None:
    """Two callers at once: one's script saw nothing left (or a later due) and writes the
    index after the other added an earlier batch.  Its check puts the entry back, early."""
    schedule.later(store, "c", 1_000, [b(0)])
    assert schedule._index(store, "c", [1, ""]) == 1  # "nothing left", seen before the add
    assert store.zscore(keys.SCHEDULE, "c") == 1_000
    assert schedule._index(store, "c", [1, "9000"]) == 1  # a later due, seen before the add
    assert store.zscore(keys.SCHEDULE, "c") == 1_000
    schedule.done(store, "c", schedule.take(store, "c"))
    assert store.zscore(keys.SCHEDULE, "c") is None
