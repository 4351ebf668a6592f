"""Intermediate delivery reports (ANTS `intermediateReport`), as the gateway posts them:
a PENDING report moves an accepted message to `pending`, forward only; it never moves a
message out of a final state, whichever comes first, one by one or in one burst."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis

from core import keys, ledger
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports import ingest

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"}
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False}


def body_2018(*reports: tuple[str, dict]) -> bytes:
    """A 2018 callback: `results` with each (messageId, status)."""
    results = [
        {"bulkId": "c-b0", "messageId": mid, "to": "66811111111", "status": st, "error": NO_ERROR}
        for mid, st in reports
    ]
    return orjson.dumps({"results": results})


def body_new(*reports: tuple[str, str]) -> bytes:
    """A newer callback: `details` with each (messageId, status name)."""
    details = [
        {"messageId": mid, "to": "66811111111", "status": {"code": "000", "name": name}}
        for mid, name in reports
    ]
    return orjson.dumps({"bulkId": "c-b0", "details": details})


def sent(store: redis.Redis, *mids: str) -> None:
    events = [Event(m, "c", State.ACCEPTED, "c-b0", "66811111111", 1, "1", "26") for m in mids]
    record(store, events, P)


def post(store: redis.Redis, body: bytes) -> int:
    """What the webhook does with one POST: parse, then apply."""
    return ingest.apply_sync(store, ingest.parse("ants", body, "application/json").reports, P)


def state(store: redis.Redis, mid: str = "c-1") -> str:
    return (ledger.read(store, mid) or {})["state"]


@pytest.mark.parametrize("fmt", ["2018", "new"])
def test_pending_after_accepted_then_final(store: redis.Redis, fmt: str) -> None:
    sent(store, "c-1")
    pending = body_2018(("c-1", PENDING)) if fmt == "2018" else body_new(("c-1", "PENDING"))
    final = body_2018(("c-1", DELIVERED)) if fmt == "2018" else body_new(("c-1", "DELIVERED"))
    assert post(store, pending) == 1
    assert state(store) == "pending"
    assert post(store, final) == 1
    assert state(store) == "delivered"


@pytest.mark.parametrize("fmt", ["2018", "new"])
def test_pending_after_the_final_changes_nothing(store: redis.Redis, fmt: str) -> None:
    sent(store, "c-1")
    pending = body_2018(("c-1", PENDING)) if fmt == "2018" else body_new(("c-1", "PENDING"))
    final = body_2018(("c-1", DELIVERED)) if fmt == "2018" else body_new(("c-1", "DELIVERED"))
    assert post(store, final) == 1
    assert post(store, pending) == 0
    assert state(store) == "delivered"
    states = [f[b"state"] for _, f in store.xrange(keys.OUTCOMES)]
    assert states == [b"accepted", b"delivered"]  # the late PENDING wrote nothing


def test_a_burst_with_each_final_before_its_intermediate(store: redis.Redis) -> None:
    """One POST of 200 messages, each one's DELIVERED before its PENDING (a gateway that
    batches and reorders its reports): every message ends delivered, none pending."""
    mids = [f"c-{i}" for i in range(200)]
    sent(store, *mids)
    burst = [r for m in mids for r in ((m, DELIVERED), (m, PENDING))]
    assert post(store, body_2018(*burst)) == 200
    assert set(ledger.states(store, mids)) == {"delivered"}


def test_a_burst_of_both_orders_at_once(store: redis.Redis) -> None:
    """Half the messages get PENDING then DELIVERED, half DELIVERED then PENDING, all in
    one POST: all end delivered; the first half passed through pending."""
    mids = [f"c-{i}" for i in range(100)]
    sent(store, *mids)
    first, second = mids[:50], mids[50:]
    burst = [(m, PENDING) for m in first] + [(m, DELIVERED) for m in mids]
    burst += [(m, PENDING) for m in second]
    assert post(store, body_2018(*burst)) == 150
    assert set(ledger.states(store, mids)) == {"delivered"}
    passed = {
        f[b"messageId"].decode()
        for _, f in store.xrange(keys.OUTCOMES)
        if f[b"state"] == b"pending"
    }
    assert passed == set(first)


def test_concurrent_posts_final_and_intermediate(r: redis.Redis, redis_url: str) -> None:
    """The final and the intermediate POSTs of 100 messages raced on the async client (the
    webhook's): whichever wins, none ends pending."""
    from core.redis_pool import async_redis

    mids = [f"c-{i}" for i in range(100)]
    sent(r, *mids)
    client = async_redis(redis_url)
    final = ingest.parse("ants", body_2018(*((m, DELIVERED) for m in mids))).reports
    pending = ingest.parse("ants", body_2018(*((m, PENDING) for m in mids))).reports

    async def race() -> None:
        await asyncio.gather(ingest.apply(client, final, P), ingest.apply(client, pending, P))
        await client.aclose()

    asyncio.run(race())
    assert set(ledger.states(r, mids)) == {"delivered"}
