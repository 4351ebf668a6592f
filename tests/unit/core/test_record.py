"""record.lua: states only move forward; counters move once per real change; one entry each."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis

from core import ids, keys, ledger, lua, outcomes
from core.outcomes import CHUNK, Event, State, StreamPolicy, Waiting, record

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
    assert ledger.state(store, "c-1") == "delivered"
    assert 0 < store.ttl(ledger.place("c-1").key) <= 3600  # its bucket holds no live state


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
        b"retrying",
        b"retrying",
        b"deferred",
        b"accepted",
    ]
    assert counts(store) == {"accepted": 1, "queued": -1}  # nothing was enqueued in this test


def test_stream_is_trimmed(store: redis.Redis) -> None:
    small = StreamPolicy(maxlen=100, final_ttl=60)
    record(store, [Event(f"c-{i}", "c", State.ACCEPTED) for i in range(1000)], small)
    assert store.xlen(keys.OUTCOMES) < 1000


def test_a_real_report_replaces_our_own_inferred_final(store: redis.Redis) -> None:
    """dead (after timeouts) and the sweep's expired are our inference, not the gateway's."""
    store.hset(keys.campaign_counts("c"), "queued", 2)
    record(store, [Event("c-1", "c", State.DEAD, reason="gave up")], P)
    record(store, [Event("c-2", "c", State.ACCEPTED)], P)
    record(store, [Event("c-2", "c", State.EXPIRED, inferred=True, reason="no report")], P)
    assert counts(store) == {"dead": 1, "expired": 1}
    assert (
        record(store, [Event("c-1", "c", State.DELIVERED), Event("c-2", "c", State.DELIVERED)], P)
        == 2
    )
    assert counts(store) == {"delivered": 2}
    errors = {k: int(v) for k, v in store.hgetall(keys.campaign_errors("c")).items() if int(v)}
    assert errors == {}  # the inferred failures no longer count as errors
    # and a gateway final is final: nothing replaces it
    assert record(store, [Event("c-1", "c", State.UNDELIVERABLE)], P) == 0
    assert record(store, [Event("c-1", "c", State.DEAD)], P) == 0
    ranks = [int(e[1][b"rank"]) for e in store.xrange(keys.OUTCOMES)]
    assert ranks == [4, 2, 4, 5, 5]


def test_a_report_finds_the_state_the_worker_wrote(store: redis.Redis) -> None:
    """A report knows only the messageId: the campaign it names (ids.campaign_of) is where
    the worker recorded it, whatever the id's form."""
    made = [("api~korder-1", "api"), ("shop-7", "shop"), ("shop-7-r2", "shop"), ("a-b-9", "a-b")]
    for mid, campaign in made:
        record(store, [Event(mid, campaign, State.ACCEPTED)], P)
        record(store, [Event(mid, ids.campaign_of(mid), State.DELIVERED)], P)
        assert ledger.state(store, mid) == "delivered"
    assert counts(store, "api") == {"delivered": 1, "queued": -1}
    assert counts(store, "shop") == {"delivered": 2, "queued": -2}
    assert counts(store, "a-b") == {"delivered": 1, "queued": -1}


def test_an_event_ends_its_own_claim_only(store: redis.Redis) -> None:
    c1, c2 = ledger.place("c-1"), ledger.place("c-2")
    store.hset(c1.claim_key, c1.field, "run-a:1|ants|1|c-b0")
    store.hset(c2.claim_key, c2.field, "run-b:1|ants|1|c-b0")
    record(
        store,
        [
            Event("c-1", "c", State.RETRYING, release="run-a"),
            Event("c-2", "c", State.RETRYING, release="run-a"),
        ],
        P,
    )
    assert store.hget(c1.claim_key, c1.field) is None
    assert store.hget(c2.claim_key, c2.field) == b"run-b:1|ants|1|c-b0"


def test_a_lagging_consumer_group_loses_nothing(r: redis.Redis) -> None:
    """The stream grows past maxlen rather than drop what a group has not read or acked."""
    small = StreamPolicy(maxlen=100, final_ttl=60)
    r.xgroup_create(keys.OUTCOMES, "billing", id="0", mkstream=True)
    for chunk in range(10):
        record(r, [Event(f"c-{chunk}-{i}", "c", State.ACCEPTED) for i in range(100)], small)
    assert r.xlen(keys.OUTCOMES) == 1000  # nothing read yet: nothing trimmed
    got = r.xreadgroup("billing", "b1", {keys.OUTCOMES: ">"}, count=600)[0][1]
    r.xack(keys.OUTCOMES, "billing", *[entry_id for entry_id, _ in got[:500]])
    record(r, [Event("c-x", "c", State.ACCEPTED)], small)
    first = r.xrange(keys.OUTCOMES, count=1)[0][0]
    assert first <= got[500][0]  # the read but unacked entries are kept
    assert r.xlen(keys.OUTCOMES) >= 501
    rest = r.xreadgroup("billing", "b1", {keys.OUTCOMES: ">"}, count=1000)[0][1]
    assert len(got) + len(rest) == 1001  # every event reached the consumer


def test_without_consumer_groups_the_stream_keeps_about_maxlen(store: redis.Redis) -> None:
    small = StreamPolicy(maxlen=100, final_ttl=60)
    for chunk in range(5):
        record(store, [Event(f"c-{chunk}-{i}", "c", State.ACCEPTED) for i in range(100)], small)
    assert 100 <= store.xlen(keys.OUTCOMES) < 300


def test_the_provider_is_stored_streamed_and_counted_once(store: redis.Redis) -> None:
    record(
        store,
        [
            Event("c-1", "c", State.ACCEPTED, provider="smsc"),
            Event("c-2", "c", State.ACCEPTED, provider="ants"),
        ],
        P,
    )
    record(store, [Event("c-1", "c", State.ACCEPTED, provider="smsc")], P)  # redelivered
    record(store, [Event("c-1", "c", State.DELIVERED, provider="smsc")], P)
    assert ledger.read(store, "c-1")["provider"] == "smsc"
    assert store.hgetall(keys.campaign_providers("c")) == {b"smsc": b"1", b"ants": b"1"}
    assert [e[1][b"provider"] for e in store.xrange(keys.OUTCOMES)] == [b"smsc", b"ants", b"smsc"]


def test_unknown_is_held_until_a_report_or_a_later_look_or_an_operator(
    store: redis.Redis,
) -> None:
    """`unknown` (rank 2): no retry, deferral or cancel moves it; `accepted` (a later look
    found it) and any report do; `only_from` applies exactly from that state."""
    store.hset(keys.campaign_counts("c"), "queued", 3)
    record(store, [Event(f"c-{i}", "c", State.UNKNOWN) for i in range(3)], P)
    moves = [State.RETRYING, State.DEFERRED, State.QUEUED, State.CANCELED, State.UNKNOWN]
    assert record(store, [Event("c-0", "c", s) for s in moves], P) == 0
    assert record(store, [Event("c-0", "c", State.ACCEPTED)], P) == 1
    assert record(store, [Event("c-1", "c", State.DELIVERED)], P) == 1
    drop = Event("c-2", "c", State.CANCELED, inferred=True, only_from="unknown")
    assert record(store, [drop, Event("c-1", "c", State.CANCELED, only_from="unknown")], P) == 1
    assert [ledger.state(store, f"c-{i}") for i in range(3)] == [
        "accepted",
        "delivered",
        "canceled",
    ]
    assert counts(store) == {"accepted": 1, "delivered": 1, "canceled": 1}
    assert record(store, [Event("c-2", "c", State.DELIVERED)], P) == 1  # a report still wins


def test_a_report_before_the_accept_still_counts_for_its_provider(store: redis.Redis) -> None:
    """The callback beat the worker's accepted (a fast DLR): the message counts for the
    provider once, when it first reaches a state the gateway took it in."""
    record(store, [Event("c-1", "c", State.DEFERRED, provider="ants", retry_at=5)], P)
    record(store, [Event("c-1", "c", State.DELIVERED, provider="ants")], P)  # the report
    record(store, [Event("c-1", "c", State.ACCEPTED, provider="ants")], P)  # the worker's
    record(store, [Event("c-2", "c", State.PENDING, provider="ants")], P)
    record(store, [Event("c-2", "c", State.ACCEPTED, provider="ants")], P)
    record(store, [Event("c-3", "c", State.FAILED, provider="ants")], P)  # refused: not taken
    assert store.hgetall(keys.campaign_providers("c")) == {b"ants": b"2"}


def test_only_failures_count_as_errors(store: redis.Redis) -> None:
    """Cancels, opt-outs and expiries are outcomes, not errors: the error counters hold
    failures only (status's top errors)."""
    record(
        store,
        [
            Event("c-1", "c", State.CANCELED),
            Event("c-2", "c", State.SUPPRESSED),
            Event("c-3", "c", State.EXPIRED, status_name="EXPIRED", error_id="0"),
            Event("c-4", "c", State.UNDELIVERABLE, status_name="UNDELIVERABLE", error_id="1"),
        ],
        P,
    )
    assert store.hgetall(keys.campaign_errors("c")) == {b"UNDELIVERABLE:1": b"1"}


def test_waiting_messages_are_counted_by_reason_while_they_wait(store: redis.Redis) -> None:
    def waiting() -> dict[str, str]:
        raw = store.hgetall(keys.campaign_waiting("c"))
        return {k.decode(): v.decode() for k, v in raw.items() if v != b"0"}

    rate, window = Waiting.RATE_LIMIT, Waiting.WINDOW
    record(
        store,
        [Event(f"c-{i}", "c", State.DEFERRED, retry_at=10**13, waiting=rate) for i in range(3)],
        P,
    )
    record(store, [Event("c-3", "c", State.DEFERRED, retry_at=10**13 + 5, waiting=window)], P)
    record(store, [Event("c-4", "c", State.DEFERRED, retry_at=10**13 + 1, waiting=window)], P)
    assert waiting() == {
        "rate_limit": "3",
        "rate_limit:next": str(10**13),
        "window": "2",
        "window:next": str(10**13 + 1),
    }
    record(
        store,
        [
            Event("c-0", "c", State.ACCEPTED),  # leaves its reason
            Event("c-1", "c", State.RETRYING, waiting=Waiting.RETRY),  # another one
            Event("c-3", "c", State.PAUSED),
        ],
        P,
    )
    assert waiting() == {
        "rate_limit": "1",
        "rate_limit:next": str(10**13),
        "retry": "1",
        "window": "1",
        "window:next": str(10**13 + 1),
    }
    record(store, [Event("c-1", "c", State.DEAD), Event("c-2", "c", State.CANCELED)], P)
    assert {k: v for k, v in waiting().items() if ":" not in k} == {"window": "1"}


def test_a_batch_of_1000_is_recorded_in_chunks_to_the_state_one_call_left(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHUNK events a call at most, and the same states, counters, claims, open index and
    stream as one call: 1,000 events of a run (accepted, retrying, failed, each ending the
    run's claim) and then 20 reports for messages of its first chunk (order kept)."""

    def events(c: str) -> list[Event]:
        kinds = [
            dict(state=State.ACCEPTED, provider="ants", expires_at=10**13 + 1),
            dict(state=State.ACCEPTED, provider="ants", expires_at=10**13 + 2),
            dict(state=State.RETRYING, retry_at=10**13, waiting=Waiting.RETRY),
            dict(state=State.FAILED, status_name="REJECTED", error_id="8"),
        ]
        run = [
            Event(f"{c}-{i}", c, bulk_id=f"{c}-b0", to=f"668{i:08d}", release="a", **kinds[i % 4])
            for i in range(1000)
        ]
        reports = [Event(f"{c}-{i}", c, State.DELIVERED) for i in range(0, 80, 4)]
        return run + reports

    def state_of(c: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in ("counts", "errors", "providers", "waiting"):
            found[name] = store.hgetall(getattr(keys, f"campaign_{name}")(c))
        raw_open = store.zrange(keys.campaign_open(c), 0, -1, withscores=True)
        found["open"] = [(k.decode().replace(c, "C"), score) for k, score in raw_open]
        found["states"] = [
            {k: v for k, v in (ledger.read(store, f"{c}-{i}") or {}).items() if k != "ts"}
            for i in range(1000)
        ]
        found["claims"] = [store.hlen(keys.claims(c, str(b))) for b in range(16)]
        found["stream"] = [
            (e[b"messageId"].decode().replace(c, "C"), e[b"state"])
            for _, e in store.xrange(keys.OUTCOMES)
            if e[b"campaign"] == c.encode()
        ]
        return found

    ended: list[dict[str, Any]] = []
    for c, chunk in (("one", 10_000), ("chunked", CHUNK)):
        for i in range(1000):
            p = ledger.place(f"{c}-{i}")
            store.hset(p.claim_key, p.field, f"a:1+10000|ants|{10**13}|{c}-b0")
        with monkeypatch.context() as m:
            m.setattr(outcomes, "CHUNK", chunk)
            sizes = _spy(m)
            assert record(store, events(c), P) == 1020
        ended.append(state_of(c))
    assert sizes == [CHUNK] * (1020 // CHUNK) + [1020 % CHUNK] * bool(1020 % CHUNK)
    assert ended[0] == ended[1]
    chunked = ended[1]
    assert chunked["claims"] == [0] * 16  # every claim ended
    assert {k.decode(): int(v) for k, v in chunked["counts"].items() if int(v)} == {
        "accepted": 480,
        "delivered": 20,
        "retrying": 250,
        "failed": 250,
        "queued": -1000,
    }
    assert len(chunked["stream"]) == 1020 and chunked["stream"][-1] == ("C-76", b"delivered")


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events of each record.lua call from now on."""
    sizes: list[int] = []
    real = lua.script

    def spying(client: Any, name: str, package: str = "core") -> Any:
        handle = real(client, name, package)
        if name != "record":
            return handle

        def call(*, keys: Any, args: Any) -> Any:
            sizes.append(len(orjson.loads(args[4])))
            return handle(keys=keys, args=args)

        return call

    monkeypatch.setattr(lua, "script", spying)
    return sizes
