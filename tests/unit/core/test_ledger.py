"""core.ledger: where a message's state lives, its packed form, its bucket's TTL and size."""

from __future__ import annotations

import time

import orjson
import pytest
import redis

from core import ids, keys, ledger, lua
from core.outcomes import Event, State, StreamPolicy, record

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
LIVE_TTL = 30 * 86400


@pytest.mark.parametrize(
    ("mid", "campaign", "bucket", "field"),
    [
        ("shop-1", "shop", "0", "1"),
        ("shop-63", "shop", "0", "63"),
        ("shop-64", "shop", "1", "0"),
        ("shop-130", "shop", "2", "2"),
        ("shop-130-r1", "shop", "2", "2-r1"),  # a resend beside its original
        ("shop-130-r1-r2", "shop", "2", "2-r1-r2"),
        ("a-b-9", "a-b", "0", "9"),  # a campaign id with '-' in it
        ("2024-05-7", "2024-05", "0", "7"),
    ],
)
def test_a_csv_line_and_its_resends_share_a_bucket(
    mid: str, campaign: str, bucket: str, field: str
) -> None:
    assert ledger.place(mid) == ledger.Place(campaign, bucket, field)


def test_message_id_is_the_inverse_of_place() -> None:
    for mid in ("shop-1", "shop-130-r1-r2", "api~korder-1", "shop-007", "a-b-9"):
        p = ledger.place(mid)
        assert ledger.message_id(p.campaign, p.bucket, p.field) == mid
    foreign = ledger.place("other-5", "shop")
    assert ledger.message_id("shop", foreign.bucket, foreign.field) == "other-5"


def test_ids_with_no_line_spread_over_hashed_buckets() -> None:
    keyed = ledger.place(ids.keyed_message_id("api", "order-1"))
    assert (keyed.campaign, keyed.field) == ("api", "~korder-1")
    assert keyed.bucket.startswith("h") and 0 <= int(keyed.bucket[1:]) < ledger.HASHED
    assert ledger.place("shop-007").field == "-007"  # not line 7's: no leading zeros
    assert ledger.place("shop-\u0661\u0662", "shop").bucket.startswith("h")  # not line 12's
    foreign = ledger.place("c-0-1", "c")  # an id that is not of its campaign's forms
    assert foreign.campaign == "c" and foreign.bucket.startswith("h")
    buckets = {ledger.place(ids.keyed_message_id("api", None)).bucket for _ in range(200)}
    assert len(buckets) > 190


def test_the_packed_state_reads_back_field_by_field(store: redis.Redis) -> None:
    before = int(time.time() * 1000)
    ev = Event(
        "c-5",
        "c",
        State.UNDELIVERABLE,
        "c-b0",
        "66810000005",
        2,
        "5",
        "5",
        "UNDELIVERABLE_NOT_DELIVERED",
        "27|x",
        provider="smsc",
    )
    record(store, [ev], P)
    got = ledger.read(store, "c-5")
    assert got is not None
    ts = int(got.pop("ts"))
    assert before - 1000 <= ts <= int(time.time() * 1000) + 1000
    assert got == {
        "state": "undeliverable",
        "rank": "5",
        "status": "5",
        "error": "27/x",
        "attempt": "2",
        "provider": "smsc",
        "to": "66810000005",
        "ekey": "",
    }
    assert ledger.read(store, "c-6") is None


def test_an_inferred_final_keeps_its_error_field_until_a_report_replaces_it(
    store: redis.Redis,
) -> None:
    record(store, [Event("c-1", "c", State.DEAD)], P)  # retries ran out: a failure
    assert ledger.read(store, "c-1")["ekey"] == ":"  # type: ignore[index]
    record(store, [Event("c-1", "c", State.DELIVERED)], P)
    assert ledger.read(store, "c-1")["ekey"] == ""  # type: ignore[index]
    assert store.hgetall(keys.campaign_errors("c")) == {b":": b"0"}


def test_a_bucket_lives_the_live_ttl_while_it_holds_a_live_state(store: redis.Redis) -> None:
    key = ledger.place("c-1").key
    record(store, [Event("c-1", "c", State.ACCEPTED), Event("c-2", "c", State.ACCEPTED)], P)
    assert store.ttl(key) > LIVE_TTL - 60
    record(store, [Event("c-1", "c", State.DELIVERED)], P)
    assert store.ttl(key) > LIVE_TTL - 60  # c-2 still waits for its report
    record(store, [Event("c-2", "c", State.EXPIRED, inferred=True)], P)
    assert 0 < store.ttl(key) <= P.final_ttl
    assert store.hget(key, "#") is None  # the live count is gone with the last live one


def test_a_full_bucket_of_final_states_stays_a_small_encoding(r: redis.Redis) -> None:
    """The memory promise (README "Redis memory"): 64 typical final states in one
    listpack, under 64 bytes a state."""
    evs = [
        Event(
            f"camp-{n}",
            "camp",
            State.UNDELIVERABLE,
            "camp-b12",
            f"6681{n:07d}",
            3,
            "5",
            "5",
            "UNDELIVERABLE_NOT_DELIVERED",
            "27",
            provider="smsmanager",
        )
        for n in range(64, 128)
    ]
    record(r, evs, P)
    key = ledger.place("camp-64").key
    assert r.hlen(key) == 64
    assert r.object("encoding", key) == b"listpack"
    assert r.memory_usage(key) < 64 * 56  # ~50 bytes a state, the field's included


def test_every_state_has_one_letter_and_lua_has_the_same_ones(store: redis.Redis) -> None:
    assert set(ledger.CODES) == {s.value for s in State}
    assert len(set(ledger.CODES.values())) == len(ledger.CODES)
    lua_codes = store.eval(lua.source("ledger") + "\nreturn cjson.encode(LEDGER_CODES)", 0)
    assert orjson.loads(lua_codes) == ledger.CODES


def test_a_bucket_accepted_and_ended_in_one_call_is_not_left_in_the_open_index(
    store: redis.Redis,
) -> None:
    expires = int(time.time() * 1000) + 3_600_000
    record(
        store,
        [Event("c-1", "c", State.ACCEPTED, expires_at=expires), Event("c-1", "c", State.DELIVERED)],
        P,
    )
    assert store.zcard(keys.campaign_open("c")) == 0


def test_an_error_with_a_bar_is_counted_and_taken_back_under_one_field(
    store: redis.Redis,
) -> None:
    record(store, [Event("c-1", "c", State.DEAD, error_id="a|b")], P)
    record(store, [Event("c-1", "c", State.DELIVERED)], P)
    assert store.hgetall(keys.campaign_errors("c")) == {b":a/b": b"0"}
