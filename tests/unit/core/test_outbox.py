"""core.outbox: events through a campaign's outbox, relayed into the outcome stream."""

from __future__ import annotations

import redis

from core import keys, outbox
from core.outcomes import Event, State, StreamPolicy, record

P = StreamPolicy(maxlen=10_000, final_ttl=3600, outbox=True)


def test_events_wait_in_the_outbox_until_relayed_in_order(store: redis.Redis) -> None:
    store.sadd(keys.CAMPAIGNS, "a", "b")
    record(store, [Event(f"a-{i}", "a", State.ACCEPTED) for i in range(3)], P)
    record(store, [Event("b-1", "b", State.ACCEPTED), Event("a-0", "a", State.DELIVERED)], P)
    assert store.xlen(keys.OUTCOMES) == 0
    assert (store.xlen(keys.outbox("a")), store.xlen(keys.outbox("b"))) == (4, 1)
    assert outbox.relay_all(store, P) == 5
    assert outbox.relay_all(store, P) == 0  # moved once
    got = [(f[b"messageId"], f[b"state"]) for _, f in store.xrange(keys.OUTCOMES)]
    a = [g for g in got if g[0].startswith(b"a-")]
    assert a == [
        (b"a-0", b"accepted"),
        (b"a-1", b"accepted"),
        (b"a-2", b"accepted"),
        (b"a-0", b"delivered"),
    ]
    assert (b"b-1", b"accepted") in got
    fields = next(f for _, f in store.xrange(keys.OUTCOMES) if f[b"messageId"] == b"a-1")
    assert fields[b"campaign"] == b"a" and fields[b"ts"].isdigit()


def test_the_relay_trims_the_stream_but_never_what_a_group_still_needs(
    store: redis.Redis,
) -> None:
    small = StreamPolicy(maxlen=100, final_ttl=60, outbox=True)
    store.xgroup_create(keys.OUTCOMES, "billing", id="0", mkstream=True)
    record(store, [Event(f"a-{i}", "a", State.ACCEPTED) for i in range(300)], small)
    assert store.xlen(keys.outbox("a")) == 300  # an outbox is never trimmed
    outbox.relay(store, "a", small)
    assert store.xlen(keys.OUTCOMES) == 300  # billing has read nothing yet
    store.xreadgroup("billing", "c1", {keys.OUTCOMES: ">"}, count=300)
    store.xack(keys.OUTCOMES, "billing", *[i for i, _ in store.xrange(keys.OUTCOMES)])
    record(store, [Event(f"a-{i}", "a", State.DELIVERED) for i in range(300)], small)
    outbox.relay(store, "a", small)
    assert 300 <= store.xlen(keys.OUTCOMES) < 600  # the read ones trimmed (~), the new kept
