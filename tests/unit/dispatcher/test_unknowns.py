"""Messages held `unknown`: listed, resent (once) or dropped by an operator; a report that
comes later resolves them."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import redis

from core import keys, ledger
from core.batch import Batch, Destination
from core.errors import CampaignNotFound
from core.outcomes import Event, State, StreamPolicy, record
from core.unknown import entries
from dispatcher import unknowns

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
IDS = [f"c-{i}" for i in range(3)]


def held(store: redis.Redis) -> None:
    """Three messages the worker held unknown, as it leaves them."""
    store.sadd(keys.CAMPAIGNS, "c")
    store.hset(keys.campaign_counts("c"), "queued", 3)
    dests = [Destination(mid, f"42060000000{i}") for i, mid in enumerate(IDS)]
    batch = Batch("c", 0, "c-b0", "Shop", "Hi", tuple(dests), int(time.time() * 1000) + 60_000)
    store.hset(keys.campaign_unknown("c"), mapping=entries(batch, dests, "timed out", 5))
    record(
        store,
        [Event(mid, "c", State.UNKNOWN, "c-b0", d.to) for mid, d in zip(IDS, dests, strict=True)],
        P,
    )


def counts(store: redis.Redis) -> dict[str, int]:
    raw = store.hgetall(keys.campaign_counts("c"))
    return {k.decode(): int(v) for k, v in raw.items() if int(v)}


def test_listing_shows_held_ones_and_forgets_what_a_report_resolved(store: redis.Redis) -> None:
    held(store)
    record(store, [Event("c-1", "c", State.DELIVERED)], P)  # the receipt came after all
    rows = unknowns.listing(store, "c")
    assert [(r["messageId"], r["to"], r["reason"]) for r in rows] == [
        ("c-0", "420600000000", "timed out"),
        ("c-2", "420600000002", "timed out"),
    ]
    assert sorted(store.hkeys(keys.campaign_unknown("c"))) == [b"c-0", b"c-2"]
    with pytest.raises(CampaignNotFound):
        unknowns.listing(store, "nope")


def test_resend_enqueues_each_once_with_its_messageid_and_a_fresh_validity(
    store: redis.Redis,
) -> None:
    held(store)
    sent: list[dict[str, Any]] = []
    n = unknowns.resend(store, sent.append, "c", ["c-0", "c-2", "c-9"], 60, P, "ops")
    assert n == 2
    assert sorted(b["d"][0][0] for b in sent) == ["c-0", "c-2"]  # in no promised order
    assert all(b["x"] > time.time() * 1000 + 59 * 60_000 for b in sent)
    assert ledger.states(store, IDS, "c") == ["queued", "unknown", "queued"]
    assert counts(store) == {"queued": 2, "unknown": 1}
    record(store, [Event("c-1", "c", State.DELIVERED)], P)  # its receipt came meanwhile
    assert unknowns.resend(store, sent.append, "c", None, 60, P, "ops") == 0  # never resent
    assert ledger.states(store, IDS, "c") == ["queued", "delivered", "queued"]
    reasons = [e[b"reason"] for _, e in store.xrange(keys.OUTCOMES) if e[b"state"] == b"queued"]
    assert reasons == [b"outcome unknown; resent by ops"] * 2


def test_drop_ends_them_canceled_and_a_later_report_still_wins(store: redis.Redis) -> None:
    held(store)
    assert unknowns.drop(store, "c", None, P, "ops") == 3
    assert ledger.states(store, IDS, "c") == ["canceled"] * 3
    assert store.hlen(keys.campaign_unknown("c")) == 0
    assert record(store, [Event("c-0", "c", State.DELIVERED)], P) == 1
    assert counts(store) == {"canceled": 2, "delivered": 1}
    entry = store.xrevrange(keys.OUTCOMES, count=2)[1][1]
    assert orjson.loads(b'"' + entry[b"reason"] + b'"').startswith("outcome unknown; dropped")
