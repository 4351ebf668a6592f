"""record.lua: states only move forward; counters move once per real change; one entry each."""

from __future__ import annotations

import redis

from dispatcher import keys
from dispatcher.outcomes import Event, State, StreamPolicy, record

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def counts(store: redis.Redis, c: str = "c") -> dict[str, int]:
    raw = store.hgetall(keys.campaign_counts(c))
    return {k.decode(): int(v) for k, v in raw.items() if int(v)}


def test_accept_then_duplicate_changes_nothing(store: redis.Redis) -> None:
    store.hset(keys.campaign_counts("c"), "queued", 3)
    evs = [Event(f"c-{i}", "c", State.ACCEPTED, "c-b0", "668", 1, "1", "26") for i in range(3)]
    assert record(store, evs, P) == 3
    assert record(store, evs, P) == 0  # redelivered batch
    assert counts(store) == {"accepted": 3}
    assert store.xlen(keys.OUTCOMES) == 3
    entry = store.xrange(keys.OUTCOMES, count=1)[0][1]
    assert entry[b"messageId"] == b"c-0" and entry[b"state"] == b"accepted"
    assert entry[b"statusId"] == b"26" and entry[b"attempt"] == b"1"


def test_final_wins_and_late_pending_is_ignored(store: redis.Redis) -> None:
    record(store, [Event("c-1", "c", State.ACCEPTED)], P)
    assert record(store, [Event("c-1", "c", State.DELIVERED)], P) == 1
    assert record(store, [Event("c-1", "c", State.PENDING)], P) == 0
    assert record(store, [Event("c-1", "c", State.UNDELIVERABLE)], P) == 0  # first final wins
    assert store.hget(keys.message("c-1"), "state") == b"delivered"
    assert 0 < store.ttl(keys.message("c-1")) <= 3600


def test_report_before_send_record_is_kept(store: redis.Redis) -> None:
    store.hset(keys.campaign_counts("c"), "queued", 1)
    record(store, [Event("c-1", "c", State.DELIVERED)], P)  # the callback beat the worker
    assert record(store, [Event("c-1", "c", State.ACCEPTED)], P) == 0
    assert counts(store) == {"delivered": 1}


def test_retry_decisions_each_leave_an_event(store: redis.Redis) -> None:
    record(store, [Event("c-1", "c", State.RETRYING, attempt=1, retry_at=5)], P)
    record(store, [Event("c-1", "c", State.RETRYING, attempt=2, retry_at=9)], P)
    record(store, [Event("c-1", "c", State.DEFERRED, attempt=2, retry_at=11)], P)
    record(store, [Event("c-1", "c", State.ACCEPTED, attempt=3)], P)
    assert [e[1][b"state"] for e in store.xrange(keys.OUTCOMES)] == [
        b"retrying", b"retrying", b"deferred", b"accepted"]  # fmt: skip
    assert counts(store) == {"accepted": 1, "queued": -1}  # nothing was enqueued in this test


def test_stream_is_trimmed(store: redis.Redis) -> None:
    small = StreamPolicy(maxlen=100, final_ttl=60)
    record(store, [Event(f"c-{i}", "c", State.ACCEPTED) for i in range(1000)], small)
    assert store.xlen(keys.OUTCOMES) < 1000
