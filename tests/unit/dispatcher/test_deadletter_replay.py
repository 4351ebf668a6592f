"""`deadletters replay` (issue 20): a letter outlives its message's ledger state (letters
live 30 days, a final state SMS_FINAL_TTL, 7 by default).  A letter whose state is gone is
replayed, its state recreated queued, never deleted with nothing enqueued."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis

from core import keys, ledger
from core.batch import Batch, Destination
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import control

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def dead_letter(store: redis.Redis, mid: str, to: str) -> None:
    """A message dead as the worker leaves it: its state, its letter, the index."""
    expired = int(time.time() * 1000) - 1
    batch = Batch("c", 0, "c-b0", "Shop", "Hi", (Destination(mid, to),), expired)
    store.hincrby(keys.campaign_counts("c"), "queued", 1)  # as the import counts it
    record(store, [Event(mid, "c", State.DEAD, "c-b0", to, reason="gave up")], P)
    at = int(time.time() * 1000)
    store.hset(
        keys.deadletter(mid),
        mapping={
            "batch": orjson.dumps(batch.to_dict()),
            "reason": "gave up",
            "at": at,
            "campaign": "c",
        },
    )
    store.zadd(keys.DEADLETTERS, {mid: at})


def counts(store: redis.Redis) -> dict[str, int]:
    raw = store.hgetall(keys.campaign_counts("c"))
    return {k.decode(): int(v) for k, v in raw.items() if int(v)}


def test_a_letter_whose_state_expired_is_replayed(store: redis.Redis) -> None:
    dead_letter(store, "c-1", "66810000001")
    dead_letter(store, "c-2", "66810000002")
    store.delete(ledger.place("c-1").key)  # both states expired (one bucket)
    sent: list[dict[str, Any]] = []
    assert control.replay(store, sent.append, "c", 60, P) == 2
    assert sorted(b["d"][0][0] for b in sent) == ["c-1", "c-2"]
    assert sent[0]["a"] == 1 and sent[0]["x"] > time.time() * 1000  # fresh attempts, validity
    assert ledger.state(store, "c-1", "c") == "queued"
    assert ledger.read(store, "c-1", "c")["to"] == "66810000001"  # type: ignore[index]
    assert counts(store) == {"queued": 2}  # they were counted dead, now queued
    assert control.deadletters(store) == []


def test_a_letter_whose_message_moved_on_is_dropped_not_replayed(store: redis.Redis) -> None:
    dead_letter(store, "c-1", "66810000001")
    record(store, [Event("c-1", "c", State.DELIVERED, "c-b0", "66810000001")], P)  # a report
    sent: list[dict[str, Any]] = []
    assert control.replay(store, sent.append, "c", 60, P) == 0
    assert sent == [] and ledger.state(store, "c-1", "c") == "delivered"


def test_a_letter_with_its_state_is_replayed_once(store: redis.Redis) -> None:
    dead_letter(store, "c-1", "66810000001")
    sent: list[dict[str, Any]] = []
    assert control.replay(store, sent.append, "c", 60, P) == 1
    assert control.replay(store, sent.append, "c", 60, P) == 0
    assert len(sent) == 1 and counts(store) == {"queued": 1}
