"""Parking, resuming and dropping: no parked batch lost, none parked behind a finished resume."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import orjson
import pytest
import redis

from core import keys, ledger, pause
from core.batch import Batch, Destination
from core.outcomes import StreamPolicy

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def batch(seq: int, n: int = 3) -> dict[str, Any]:
    dests = tuple(Destination(f"c-{seq}-{i}", f"668123{seq:02d}{i:03d}") for i in range(n))
    return Batch("c", seq, f"c-b{seq}", "Shop", "Hi", dests, int(time.time() * 1000) + 60_000
                 ).to_dict()  # fmt: skip


def parked_ids(store: redis.Redis) -> list[int]:
    return [orjson.loads(raw)["s"] for raw in store.lrange(keys.campaign_parked("c"), 0, -1)]


def test_park_pauses_and_parks_only_while_paused(store: redis.Redis) -> None:
    assert pause.park(store, "c", batch(0)) == 0  # not paused: the caller sends it on
    assert pause.park(store, "c", batch(1), "12 out of credit") == 1
    assert pause.park(store, "c", batch(2)) == 1  # paused now: parked
    assert store.hget(keys.campaign_meta("c"), "paused") == b"12 out of credit"
    assert parked_ids(store) == [1, 2]


def test_two_resumes_at_once_enqueue_every_batch_once(store: redis.Redis) -> None:
    for seq in range(6):
        pause.park(store, "c", batch(seq), "12 out of credit")
    sent: list[dict[str, Any]] = []
    inner: list[int] = []

    def enqueue(b: dict[str, Any]) -> None:
        if not inner:  # the second resume runs while the first enqueues its first batch
            inner.append(pause.resume(store, sent.append, "c"))
        sent.append(b)

    outer = pause.resume(store, enqueue, "c")
    assert sorted(b["s"] for b in sent) == list(range(6))
    assert outer + inner[0] == 6 and parked_ids(store) == []


def test_a_resume_that_died_half_way_leaves_nothing_behind(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seq in range(3):
        pause.park(store, "c", batch(seq), "401")

    def dies(b: dict[str, Any]) -> None:
        raise ConnectionError("the resume was killed")

    with contextlib.suppress(ConnectionError):
        pause.resume(store, dies, "c")
    sent: list[dict[str, Any]] = []
    assert pause.resume(store, sent.append, "c") == 2  # the one in hand is not taken at once
    monkeypatch.setattr("core.pause.STALE_UNPARK_MS", 0)
    assert pause.resume(store, sent.append, "c") == 1  # ...but once its resume surely died
    assert sorted(b["s"] for b in sent) == [0, 1, 2]
    assert store.zcard(keys.campaign_unparking("c")) == 0


def test_resume_splits_batches_larger_than_the_batch_size(store: redis.Redis) -> None:
    pause.park(store, "c", batch(0, n=5), "413 Payload Too Large")
    sent: list[dict[str, Any]] = []
    pause.resume(store, sent.append, "c", batch_size=2)
    assert [len(b["d"]) for b in sent] == [2, 2, 1] and {b["b"] for b in sent} == {"c-b0"}


def test_drop_cancels_single_destinations_and_keeps_the_rest_parked(store: redis.Redis) -> None:
    store.hset(keys.campaign_counts("c"), "paused", 6)
    for seq in range(2):
        pause.park(store, "c", batch(seq), "19 REJECTED_ROUTE_NOT_AVAILABLE")
    sent: list[dict[str, Any]] = []
    assert pause.drop(store, sent.append, "c", ["c-0-1", "c-1-0", "nope"], P) == 2
    assert sent == []
    rest = [d["messageId"] for d in pause.parked(store, "c")]
    assert sorted(rest) == ["c-0-0", "c-0-2", "c-1-1", "c-1-2"]
    assert ledger.state(store, "c-0-1", "c") == "canceled"
    counts = {k.decode(): int(v) for k, v in store.hgetall(keys.campaign_counts("c")).items()}
    assert counts == {"paused": 6, "queued": -2, "canceled": 2}  # parked ones were "paused"


def test_an_operator_pause_keeps_a_reason_already_there(store: redis.Redis) -> None:
    assert pause.pause(store, "c") is True
    assert pause.pause(store, "c", "another") is False
    assert store.hget(keys.campaign_meta("c"), "paused") == pause.OPERATOR_PAUSE.encode()


def test_cancel_ends_the_parked_destinations_and_stops_later_batches(store: redis.Redis) -> None:
    from core.errors import CampaignCanceled
    from core.outcomes import Event, State, record

    for seq in range(2):
        pause.park(store, "c", batch(seq), "12 out of credit")
    record(store, [Event("c-0-0", "c", State.ACCEPTED)], P)  # a copy of it was sent
    sent: list[dict[str, Any]] = []
    assert pause.cancel(store, sent.append, "c", P) == 6
    assert sent == [] and parked_ids(store) == []
    states = {f"c-{s}-{i}": ledger.state(store, f"c-{s}-{i}", "c")
              for s in range(2) for i in range(3)}  # fmt: skip
    assert states.pop("c-0-0") == "accepted"  # sent: a cancel never relabels it
    assert set(states.values()) == {"canceled"}
    assert pause.park(store, "c", batch(5)) == pause.CANCELED  # a batch met later: not parked
    assert parked_ids(store) == []
    with pytest.raises(CampaignCanceled):
        pause.resume(store, sent.append, "c")


def test_cancel_never_relabels_a_message_another_run_may_be_sending(store: redis.Redis) -> None:
    from core.outcomes import Event, State, record

    c1, c2 = ledger.place("c-1"), ledger.place("c-2")
    store.hset(c1.claim_key, c1.field, f"run-a:{int(time.time() * 1000)}")
    mine = Event("c-2", "c", State.CANCELED, release="run-b")
    store.hset(c2.claim_key, c2.field, "run-b:1")
    assert record(store, [Event("c-1", "c", State.CANCELED), mine], P) == 1
    assert ledger.read(store, "c-1") is None  # run-a may have sent it
    assert ledger.state(store, "c-2") == "canceled"  # run-b's own decision


def test_cancel_ends_the_scheduled_batches_too(store: redis.Redis) -> None:
    from core import schedule

    due = int(time.time() * 1000) + 86_400_000  # tomorrow's start
    schedule.later(store, "c", due, [batch(seq) for seq in range(3)])
    assert schedule.scheduled(store, "c")[0] == 3
    assert pause.cancel(store, [].append, "c", P) == 9
    assert schedule.scheduled(store, "c") == (0, 0)
    assert store.zscore(keys.SCHEDULE, "c") is None
    states = {ledger.state(store, f"c-{s}-{i}", "c") for s in range(3) for i in range(3)}
    assert states == {"canceled"}
