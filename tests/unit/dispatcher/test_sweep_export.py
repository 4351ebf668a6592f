"""Expiry sweep, CSV export, status's top errors, and resending temporary failures."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import fakeredis
import redis

from config.settings import Settings
from core import keys, ledger
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import control
from dispatcher.reports import ingest
from dispatcher.reports.export import export, message_ids, pieces
from dispatcher.reports.resend import Resender
from dispatcher.reports.sweep import REASON, sweep
from providers.reports import DeliveryReport
from tests.unit.sent_kit import in_flight

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
NOW = 1_700_000_000_000
GRACE = 600


def campaign(store: redis.Redis, c: str = "c", n: int = 4, text: str = "Hi there") -> None:
    store.sadd(keys.CAMPAIGNS, c)
    store.hset(
        keys.campaign_meta(c),
        mapping={"text": text, "sender": "Shop", "messages": n, "last_line": n},
    )
    store.hset(keys.campaign_counts(c), "queued", n)


def accept(store: redis.Redis, mids: list[str], expires_at: int, c: str = "c") -> None:
    record(
        store,
        [
            Event(
                m, c, State.ACCEPTED, f"{c}-b0", f"6681{i:07d}", 1, "1", "26", expires_at=expires_at
            )
            for i, m in enumerate(mids)
        ],
        P,
    )


def state(store: redis.Redis, mid: str) -> str:
    return ledger.state(store, mid)


def test_sweep_expires_only_overdue_open_messages(store: redis.Redis) -> None:
    campaign(store)
    mids = ["c-1", "c-2", "c-3", "c-100"]  # c-100 in a ledger bucket of its own
    accept(store, mids[:3], NOW - GRACE * 1000 - 1)  # overdue
    accept(store, mids[3:], NOW)  # validity ended, but still within grace
    ingest.apply_sync(
        store,
        [
            DeliveryReport("c-2", "pending", False, provider="ants"),
            DeliveryReport("c-3", "delivered", True, provider="ants"),
        ],
        P,
    )
    assert sweep(store, P, GRACE, now_ms=NOW) == 2
    assert [state(store, m) for m in mids] == ["expired", "expired", "delivered", "accepted"]
    assert store.zrange(keys.campaign_open("c"), 0, -1) == [ledger.place("c-100").key.encode()]
    last = store.xrevrange(keys.OUTCOMES, count=1)[0][1]
    assert last[b"reason"] == REASON.encode()
    assert ledger.read(store, "c-1")["to"] == "66810000000"  # kept
    assert sweep(store, P, GRACE, now_ms=NOW) == 0  # nothing left to do
    assert sweep(store, P, GRACE, now_ms=NOW + GRACE * 1000 + 1) == 1
    st = control.status(store, "c")
    assert st["counts"] == {"delivered": 1, "expired": 3} and st["awaiting_report"] == 0
    assert st["in_flight"] == 0
    assert store.zcard(keys.campaign_open("c")) == 0  # every bucket is final: none listed


def test_a_bucket_is_swept_by_its_latest_validity_and_leaves_once_all_final(
    store: redis.Redis,
) -> None:
    """The index scores a bucket by its latest open validity end (a resend's, here): its
    messages are swept once that one is overdue too.  A bucket still holding a message
    that is not sent yet stays listed, and is swept again, until that one ends."""
    campaign(store)
    accept(store, ["c-1"], NOW - 10**7)
    accept(store, ["c-2-r1"], NOW)  # a resend, later, in the same bucket
    record(store, [Event("c-3", "c", State.RETRYING)], P)  # live, not sent
    assert sweep(store, P, GRACE, now_ms=NOW) == 0
    later = NOW + GRACE * 1000 + 1
    assert sweep(store, P, GRACE, now_ms=later) == 2
    assert store.zcard(keys.campaign_open("c")) == 1  # c-3 is still live
    assert sweep(store, P, GRACE, now_ms=later) == 0
    record(store, [Event("c-3", "c", State.FAILED)], P)
    assert store.zcard(keys.campaign_open("c")) == 0


def test_sweep_loses_to_a_late_final_report(store: redis.Redis) -> None:
    campaign(store, n=1)
    accept(store, ["c-1"], NOW - 10**7)
    ingest.apply_sync(store, [DeliveryReport("c-1", "delivered", True, provider="ants")], P)
    assert sweep(store, P, GRACE, ["c"], now_ms=NOW) == 0
    assert state(store, "c-1") == "delivered"


def test_export_rows_in_line_order_formula_safe(store: redis.Redis) -> None:
    campaign(store, n=12)
    campaign(store, "c-x", n=1)  # "c-x-1" must not be exported with "c"
    accept(store, [f"c-{i}" for i in (10, 2, 1)] + ["c-2-r1"], NOW + 10**7)
    accept(store, ["c-x-1"], NOW, c="c-x")
    evil = DeliveryReport(
        "c-2",
        "undeliverable",
        True,
        status_code='=HYPERLINK("x")',
        error_code="27",
        provider="ants",
    )
    ingest.apply_sync(store, [evil], P)
    store.set(keys.enqueued_once("c-5"), 1)  # a marker key, not a message
    store.hset(keys.campaign_resent("c"), "c-2", 1)  # as the resender writes it
    store.scan_iter = None  # type: ignore[method-assign]  # the keyspace is never walked
    out = io.StringIO()
    assert export(store, "c", out) == 4
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    header = ["messageId", "to", "state", "status", "error", "attempt", "updated", "clicks"]
    assert rows[0] == header and {r[7] for r in rows[1:]} == {"0"}  # no tracked links
    assert [r[0] for r in rows[1:]] == ["c-1", "c-2", "c-2-r1", "c-10"]
    c2 = rows[2]
    assert c2[2:6] == ["undeliverable", '\'=HYPERLINK("x")', "27", "1"]
    assert c2[1] == "66810000001" and c2[6].endswith("+00:00")
    assert [m for chunk in message_ids(store, "c-x") for m in chunk] == ["c-x-1"]
    assert b"".join(pieces(store, "c", size=10)).decode() == out.getvalue()  # streamed the same


def test_export_index_of_send_sms(store: redis.Redis) -> None:
    """send_sms messages come from their own index, in enqueue order, after the lines."""
    store.hset(keys.campaign_meta("old"), "last_line", 3)
    accept(store, ["old-2", "old-3"], NOW, c="old")
    store.zadd(keys.campaign_ids("old"), {"old~kb": 2, "old~ka": 1})
    accept(store, ["old~ka", "old~kb"], NOW, c="old")
    out = io.StringIO()
    assert export(store, "old", out) == 4
    assert [r[0] for r in csv.reader(io.StringIO(out.getvalue()))][1:] == [
        "old-2",
        "old-3",
        "old~ka",
        "old~kb",
    ]


def test_status_top_errors_names_ants_errors(store: redis.Redis) -> None:
    campaign(store)
    name = "UNDELIVERABLE_NOT_DELIVERED"
    reps = [
        DeliveryReport(
            f"c-{i}",
            "undeliverable",
            True,
            status_code="5",
            status_name=name,
            error_code="27",
            provider="ants",
        )
        for i in range(3)
    ]
    reps.append(DeliveryReport("c-9", "rejected", True, status_name="REJ", provider="ants"))
    in_flight(store, *(r.message_id for r in reps))  # sent: reports apply to them
    ingest.apply_sync(store, reps, P)
    top = control.status(store, "c")["top_errors"]
    assert top[0] == {
        "status": "UNDELIVERABLE_NOT_DELIVERED",
        "error": "27",
        "error_name": "EC_ABSENT_SUBSCRIBER",
        "count": 3,
    }
    assert top[1]["status"] == "REJ" and top[1]["count"] == 1


# -- resending temporary failures -----------------------------------------------------


def temporary(mid: str) -> DeliveryReport:
    return DeliveryReport(
        mid,
        "undeliverable",
        True,
        status_name="UNDELIVERABLE_NOT_DELIVERED",
        error_code="27",
        permanent=False,
        provider="ants",
    )


def resend_run(
    server: fakeredis.FakeServer, reports: list[DeliveryReport], settings: Settings
) -> tuple[int, list[tuple[dict, int]]]:
    enqueued: list[tuple[dict[str, Any], int]] = []

    async def go() -> int:
        client = fakeredis.FakeAsyncRedis(server=server)
        await ingest.apply(client, reports, P)
        resender = Resender(client, settings, lambda b, d: enqueued.append((b, d)))
        return await resender.resend(reports)

    return asyncio.run(go()), enqueued


ON = Settings(resend_temporary=True, resend_delay=60, resend_max=2)


def test_resend_temporary_failure_once_per_report_with_chain_ids() -> None:
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    campaign(sync)
    accept(sync, ["c-1", "c-2"], NOW + 10**9)
    permanent = DeliveryReport(
        "c-2", "undeliverable", True, error_code="1", permanent=True, provider="ants"
    )
    n, enq = resend_run(server, [temporary("c-1"), permanent], ON)
    assert n == 1 and len(enq) == 1
    batch, delay = enq[0]
    assert delay == 60_000 and batch["t"] == "Hi there" and batch["f"] == "Shop"
    assert batch["d"] == [["c-1-r1", "66810000000", None]]
    assert resend_run(server, [temporary("c-1")], ON)[0] == 0  # duplicate report: no resend
    assert sync.hget(keys.campaign_meta("c"), "resent") == b"1"
    accept(sync, ["c-1-r1"], NOW + 10**9)
    assert resend_run(server, [temporary("c-1-r1")], ON)[1][0][0]["d"][0][0] == "c-1-r2"
    assert resend_run(server, [temporary("c-1-r1")], ON)[0] == 0  # duplicate: no second r2
    assert sync.hget(keys.campaign_meta("c"), "resent") == b"2"
    accept(sync, ["c-1-r2"], NOW + 10**9)
    assert resend_run(server, [temporary("c-1-r2")], ON)[0] == 0  # SMS_RESEND_MAX=2 reached


def test_no_resend_when_off_personalised_or_already_delivered() -> None:
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    campaign(sync)
    campaign(sync, "p", text="Hi {name}")
    accept(sync, ["c-1", "c-2"], NOW + 10**9)
    accept(sync, ["p-1"], NOW + 10**9, c="p")
    assert resend_run(server, [temporary("c-1")], Settings())[0] == 0  # off by default
    ingest.apply_sync(sync, [DeliveryReport("c-2", "delivered", True, provider="ants")], P)
    assert resend_run(server, [temporary("c-2")], ON)[0] == 0  # first final was delivered
    assert resend_run(server, [temporary("p-1")], ON)[0] == 0  # personalised text


def test_a_message_accepted_after_its_bucket_was_listed_is_not_expired(
    store: redis.Redis, monkeypatch: Any
) -> None:
    """The sweep lists overdue buckets, then reads them: a message accepted in between
    (with a validity not over yet) raised its bucket's score, and is left alone."""
    from dispatcher.reports import sweep as sweep_module

    campaign(store)
    accept(store, ["c-1"], NOW - GRACE * 1000 - 1)
    real = sweep_module.open_ids

    def late_accept(client: Any, c: str, buckets: list[str], cutoff: int) -> list[str]:
        accept(store, ["c-2"], NOW + 10**7)  # accepted after the listing
        return real(client, c, buckets, cutoff)

    monkeypatch.setattr(sweep_module, "open_ids", late_accept)
    assert sweep(store, P, GRACE, now_ms=NOW) == 0
    assert state(store, "c-1") == "accepted" and state(store, "c-2") == "accepted"
