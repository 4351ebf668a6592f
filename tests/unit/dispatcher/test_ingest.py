"""Applying delivery reports: state mapping, rank rule, order, duplicates, index, error counters."""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import keys, ledger
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports import ingest
from providers.reports import DeliveryReport, ReportParseError
from tests.unit.sent_kit import in_flight

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
HOUR_MS = 3_600_000


def report(mid: str = "c-1", state: str = "delivered", **kw: object) -> DeliveryReport:
    final = state not in ("pending", "accepted")
    kw.setdefault("provider", "ants")
    return DeliveryReport(message_id=mid, state=state, final=final, **kw)  # type: ignore[arg-type]


def accepted(mid: str = "c-1", expires_at: int = 0, to: str = "66811111111") -> Event:
    return Event(mid, "c", State.ACCEPTED, "c-b0", to, 1, "1", "26", expires_at=expires_at)


def msg(store: redis.Redis, mid: str = "c-1") -> dict[str, str]:
    return ledger.read(store, mid) or {}


def counts(store: redis.Redis, c: str = "c") -> dict[str, int]:
    raw = store.hgetall(keys.campaign_counts(c))
    return {k.decode(): int(v) for k, v in raw.items() if int(v)}


@pytest.mark.parametrize("state", sorted(ingest.STATE_OF_REPORT))
def test_every_report_state_maps(state: str) -> None:
    ev = ingest.to_event(report("camp-7", state, status_code="5", error_code="27"))
    assert ev.state.value == state and ev.campaign == "camp" and ev.error_id == "27"


def test_event_carries_codes_and_resend_ids_keep_their_campaign() -> None:
    rp = report(
        "spring-2024-12-r1",
        "undeliverable",
        group="UNDELIVERABLE",
        status_code="4",
        status_name="UNDELIVERABLE_REJECTED_OPERATOR",
        error_code="27",
        error_name="EC_ABSENT_SUBSCRIBER",
        permanent=False,
    )
    ev = ingest.to_event(rp)
    assert ev.campaign == "spring-2024"
    assert (ev.group, ev.status_id, ev.status_name, ev.permanent) == (
        "UNDELIVERABLE",
        "4",
        "UNDELIVERABLE_REJECTED_OPERATOR",
        "False",
    )
    assert ev.reason == "EC_ABSENT_SUBSCRIBER"


def test_pending_then_final_then_late_pending(store: redis.Redis) -> None:
    store.hset(keys.campaign_counts("c"), "queued", 1)
    record(store, [accepted()], P)
    assert ingest.apply_sync(store, [report(state="pending")], P) == 1
    assert msg(store)["state"] == "pending"
    assert ingest.apply_sync(store, [report(state="delivered")], P) == 1
    assert ingest.apply_sync(store, [report(state="pending")], P) == 0
    assert ingest.apply_sync(store, [report(state="delivered")], P) == 0  # duplicate
    m = msg(store)
    assert m["state"] == "delivered" and m["to"] == "66811111111" and m["attempt"] == "1"
    assert counts(store) == {"delivered": 1}
    assert store.xlen(keys.OUTCOMES) == 3


def test_report_before_the_workers_accepted_is_kept(store: redis.Redis) -> None:
    """The callback beat the worker's write: the final state stays, accepted is a no-op."""
    store.hset(keys.campaign_counts("c"), "queued", 1)
    in_flight(store, "c-1")
    assert ingest.apply_sync(store, [report(state="delivered", to="668")], P) == 1
    expires = int(time.time() * 1000) + HOUR_MS
    assert record(store, [accepted(expires_at=expires)], P) == 0
    assert msg(store)["state"] == "delivered"
    assert counts(store) == {"delivered": 1}
    assert store.zcard(keys.campaign_open("c")) == 0  # not indexed: it is final


def test_pending_before_accepted_still_indexes_for_the_sweep(store: redis.Redis) -> None:
    in_flight(store, "c-1")
    ingest.apply_sync(store, [report(state="pending")], P)
    expires = int(time.time() * 1000) + HOUR_MS
    assert record(store, [accepted(expires_at=expires)], P) == 0
    assert msg(store)["state"] == "pending"
    assert store.zscore(keys.campaign_open("c"), ledger.place("c-1").key) == expires


def test_open_index_follows_accepted_and_final(store: redis.Redis) -> None:
    """The index lists ledger buckets holding accepted or pending messages, scored by the
    latest validity end among them, until all of a bucket's messages are final."""
    expires = int(time.time() * 1000) + HOUR_MS
    mids = ["c-0", "c-1", "c-64", "c-65", "c-128"]  # buckets 0, 1, 2
    record(store, [accepted(m, expires + i) for i, m in enumerate(mids)], P)
    index = keys.campaign_open("c")
    assert store.zrange(index, 0, -1, withscores=True) == [
        (ledger.place(m).key.encode(), float(expires + i))
        for i, m in ((1, "c-1"), (3, "c-65"), (4, "c-128"))
    ]
    ingest.apply_sync(
        store, [report("c-0", "pending"), report("c-1", "delivered"), report("c-128", "expired")], P
    )
    assert store.zcard(index) == 2  # bucket 2 is all final
    ingest.apply_sync(store, [report("c-64", "expired"), report("c-65", "rejected")], P)
    assert store.zrange(index, 0, -1) == [ledger.place("c-0").key.encode()]


def test_error_counters_count_each_final_failure_once(store: redis.Redis) -> None:
    absent = dict(status_name="UNDELIVERABLE_NOT_DELIVERED", error_code="27", permanent=False)
    reps = [report(f"c-{i}", "undeliverable", **absent) for i in range(3)]  # type: ignore[arg-type]
    reps.append(report("c-9", "rejected", status_name="REJECTED_NETWORK", error_code=""))
    reps.append(report("c-8", "delivered", status_name="DELIVERED_TO_HANDSET"))
    in_flight(store, *(r.message_id for r in reps))
    ingest.apply_sync(store, reps, P)
    ingest.apply_sync(store, reps, P)  # duplicates count nothing
    errors = {k.decode(): int(v) for k, v in store.hgetall(keys.campaign_errors("c")).items()}
    assert errors == {"UNDELIVERABLE_NOT_DELIVERED:27": 3, "REJECTED_NETWORK:": 1}


def bad(store: redis.Redis) -> list[dict[str, object]]:
    import orjson

    return [orjson.loads(e) for e in store.lrange(keys.REPORTS_BAD, 0, -1)]


def test_a_report_for_a_message_we_never_sent_creates_nothing(store: redis.Redis) -> None:
    """Issue 20: a report naming an unknown campaign (or a message of ours never sent) was
    applied, creating `sms:c:{nope}:...` keys.  Now it is kept in sms:reports:bad, as a
    report with an unknown gateway id is, and writes nothing else."""
    store.hset(keys.campaign_counts("c"), "queued", 2)
    in_flight(store, "c-1")
    reps = [report("nope-1"), report("c-2"), report("c-1")]
    assert ingest.apply_sync(store, reps, P) == 1
    assert [k for k in store.keys("sms:c:{nope}*")] == []
    assert ledger.read(store, "c-2") is None and msg(store)["state"] == "delivered"
    assert counts(store) == {"delivered": 1, "queued": 1}
    assert store.xlen(keys.OUTCOMES) == 1
    kept = bad(store)
    assert [(e["id"], e["provider"]) for e in kept] == [("nope-1", "ants"), ("c-2", "ants")]
    assert all(e["reason"] == ingest.UNKNOWN_MESSAGE for e in kept)


def test_a_report_for_a_message_never_sent_creates_nothing_async() -> None:
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    client = fakeredis.FakeAsyncRedis(server=server)
    assert asyncio.run(ingest.apply(client, [report("nope-1", "undeliverable")], P)) == 0
    assert sync.keys("sms:c:*") == [] and sync.llen(keys.REPORTS_BAD) == 1


def test_async_apply_matches_sync() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server)
    in_flight(fakeredis.FakeRedis(server=server), "c-1")
    n = asyncio.run(ingest.apply(client, [report(state="pending"), report()], P))
    assert n == 2
    assert ledger.state(fakeredis.FakeRedis(server=server), "c-1") == "delivered"


# -- any order, any duplication: the same end state --------------------------------------

REPORT_STATES = ["accepted", "pending", "pending", "delivered", "undeliverable", "expired"]


def first_final(sequence: list[str]) -> str:
    """The documented rule: the first final report wins; without one, the highest rank."""
    finals = [s for s in sequence if s not in ("accepted", "pending")]
    if finals:
        return finals[0]
    return "pending" if "pending" in sequence else "accepted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(REPORT_STATES), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
)
def test_any_order_and_duplication_ends_in_first_final(
    sequence: list[str], copies: int, worker_first: bool
) -> None:
    client = fakeredis.FakeRedis()
    client.hset(keys.campaign_counts("c"), "queued", 1)
    in_flight(client, "c-1")  # its request is out
    if worker_first:
        record(client, [accepted(expires_at=int(time.time() * 1000) + HOUR_MS)], P)
    for state in sequence:
        for _ in range(copies):
            ingest.apply_sync(client, [report(state=state)], P)
    expected = first_final(sequence)
    assert msg(client)["state"] == expected
    assert counts(client) == {expected: 1}
    if expected not in ("accepted", "pending"):
        assert client.zcard(keys.campaign_open("c")) == 0


# -- parse: every provider's body as good reports and rejected records ---------------------


@pytest.mark.parametrize(
    ("provider", "body", "content_type", "query"),
    [
        (
            "ants",
            b'{"results": [{"messageId": "c-1", "status": {"groupId": 3}}, {"messageId": "c-2"}]}',
            "application/json",
            {},
        ),
        ("smsmanager", b'[{"id": "c-1", "status": 2}, {"id": "c-2"}]', "", {}),
        ("smsc", b'[{"id": "c-1", "status": 1}, {"id": "c-2", "status": "x"}]', "", {}),
        ("smsc", b"Status = 1, id = c-1\nStatus = ?, id = c-2", "", {"fmt": "0"}),
    ],
)
def test_parse_keeps_good_reports_and_rejects_bad_records(
    provider: str, body: bytes, content_type: str, query: dict[str, str]
) -> None:
    parsed = ingest.parse(provider, body, content_type, query)
    assert [(r.message_id, r.state) for r in parsed.reports] == [("c-1", "delivered")]
    assert [e.index for e in parsed.rejected] == [1]


def test_parse_query_parameters_and_refusals() -> None:
    (report,) = ingest.parse("smsmanager", b"", "", {"id": "c-1", "status": "2"})
    assert report.state == "delivered"
    with pytest.raises(ReportParseError, match="malformed"):
        ingest.parse("ants", b"{oops", "application/json")
    with pytest.raises(ReportParseError, match="no provider 'nope'"):
        ingest.parse("nope", b"{}")
    with pytest.raises(ReportParseError, match="fmt must be 0-3"):
        ingest.parse("smsc", b"[]", "", {"fmt": "json"})
