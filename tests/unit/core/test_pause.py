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
    return Batch(
        "c", seq, f"c-b{seq}", "Shop", "Hi", dests, int(time.time() * 1000) + 60_000
    ).to_dict()


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
    states = {
        f"c-{s}-{i}": ledger.state(store, f"c-{s}-{i}", "c") for s in range(2) for i in range(3)
    }
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


class _CancelAt:
    """Runs `cancel` right before the `at`-th Redis command the wrapped client sends (0: the
    first), once: every point of another operation where a cancel can land, one by one."""

    def __init__(self, store: redis.Redis, at: int, log: list[str], whole: bool) -> None:
        self.store, self.at, self.log, self.seen, self.fired = store, at, log, 0, False
        self.whole = whole  # else only its mark: its taking out comes after the resume
        self._send = store.execute_command

    def __call__(self, *args: Any, **kw: Any) -> Any:
        if not self.fired and self.seen == self.at:
            self.fired = True
            if self.whole:
                pause.cancel(self.store, self.log.append, "c", P)  # its own enqueues: none
            else:
                pause.mark_canceled(self.store, "c")
            self.log.append("canceled")
        self.seen += 1
        return self._send(*args, **kw)


class _Enqueued:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __call__(self, b: dict[str, Any]) -> None:
        self.log.append(f"enqueued {b['s']}")


@pytest.mark.parametrize("whole", [True, False], ids=["cancel", "cancel-mark-only"])
def test_a_cancel_landing_anywhere_in_a_resume_leaves_the_campaign_stopped(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    """Issue 20: resume checked `canceled`, then deleted `paused`; a cancel in between left
    the campaign canceled but not paused (workers look at `paused`), so everything went.
    A cancel (or only its first step, the mark) is made to land before each Redis command
    of a resume in turn."""
    from core.errors import CampaignCanceled

    at = 0
    while True:
        store.flushdb()
        for seq in range(3):
            pause.park(store, "c", batch(seq), "12 out of credit")
        log: list[str] = []
        hook = _CancelAt(store, at, log, whole)
        monkeypatch.setattr(store, "execute_command", hook)
        enqueued = _Enqueued(log)
        with contextlib.suppress(CampaignCanceled):
            pause.resume(store, enqueued, "c")
        monkeypatch.undo()
        if not hook.fired:  # the resume sent fewer commands: every point was tried
            break
        if not whole:  # the rest of that cancel
            pause.cancel(store, log.append, "c", P)
        meta = keys.campaign_meta("c")
        assert store.hexists(meta, "canceled"), at
        assert store.hexists(meta, "paused"), f"canceled but not paused (cancel before #{at})"
        after = log[log.index("canceled") + 1 :]
        assert after == [], f"the resume enqueued {after} after the cancel (before #{at})"
        # every parked batch either went before the cancel, or ended canceled
        went = {int(e.split()[1]) for e in log if e.startswith("enqueued")}
        for seq in set(range(3)) - went:
            assert {ledger.state(store, f"c-{seq}-{i}", "c") for i in range(3)} == {"canceled"}
        assert parked_ids(store) == [] and store.zcard(keys.campaign_unparking("c")) == 0
        # a batch a worker meets later is not sent: park.lua says canceled
        assert pause.park(store, "c", batch(9)) == pause.CANCELED
        at += 1
    assert at > 3  # the hook reached into the resume's taking of batches


def test_resumed_messages_no_longer_count_as_paused(store: redis.Redis) -> None:
    """A resume records its batches' messages deferred (reason `resumed`) before it enqueues
    them: the campaign says sending, and its counts say so too."""
    from core.outcomes import Event, State, record

    b = Batch.from_dict(batch(0))
    pause.park(store, "c", batch(0), "12 out of credit")
    parked = [Event(d.message_id, "c", State.PAUSED) for d in b.destinations]
    record(store, parked, P)
    seen: list[dict[str, int]] = []

    def enqueue(_: dict[str, Any]) -> None:  # what a worker meeting it would find
        raw = store.hgetall(keys.campaign_counts("c"))
        seen.append({k.decode(): int(v) for k, v in raw.items() if int(v)})

    assert pause.resume(store, enqueue, "c", policy=P) == 1
    assert seen == [{"deferred": 3, "queued": -3}]  # (nothing was enqueued as queued here)
    assert store.hget(keys.campaign_waiting("c"), "resumed") == b"3"
    assert {ledger.state(store, d.message_id, "c") for d in b.destinations} == {"deferred"}
