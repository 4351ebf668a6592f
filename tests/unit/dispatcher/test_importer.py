"""Import: validation, dedupe, deterministic batches, re-runs enqueue nothing twice."""

from __future__ import annotations

import io
from typing import Any

import pytest
import redis

from core import keys
from core.errors import InputError
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource
from providers.ants import PROFILE as ANTS

CSV = """phone,name
0812345601,Ann
0812345602,Bob
not-a-number,Bad
0812345603,Cat
0812345601,Dup
=cmd|' /C calc'!A0,Evil
0812345604,Dan
0812345605,Eve
"""


def spec(text: str = "Hi {name}", size: int = 2) -> CampaignSpec:
    return CampaignSpec("spring", "Shop", text, "TH", size, 60, profile=ANTS)


def run(
    store: redis.Redis, sent: list[dict[str, Any]], text: str = "Hi {name}", csv_text: str = CSV
) -> tuple[Any, str]:
    out = io.StringIO()
    imp = Importer(store, sent.append, spec(text), SafeCsvWriter(out))
    report = imp.run(CsvSource(io.StringIO(csv_text), name="c.csv"))
    return report, out.getvalue()


def test_import_batches_and_rejects(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []
    report, rejects = run(store, sent)
    assert (report.rows, report.valid, report.invalid, report.duplicates) == (8, 5, 2, 1)
    assert [len(b["d"]) for b in sent] == [2, 2, 1] and [b["s"] for b in sent] == [0, 1, 2]
    assert sent[0]["b"] == "spring-b0" and sent[0]["d"][0] == ["spring-2", "66812345601", "Hi Ann"]
    assert "duplicate of line 2" in rejects and "'=cmd|" in rejects
    assert "\n=cmd" not in rejects  # the formula is never written back unescaped
    assert store.hget(keys.campaign_counts("spring"), "queued") == b"5"


def test_shared_text_has_no_per_destination_text(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []
    run(store, sent, text="Sale today")
    assert sent[0]["t"] == "Sale today" and sent[0]["d"][0][2] is None


def test_reimport_enqueues_nothing_new(store: redis.Redis) -> None:
    first: list[dict[str, Any]] = []
    run(store, first)
    again: list[dict[str, Any]] = []
    report, _ = run(store, again)
    assert again == [] and report.skipped == 3 and report.enqueued == 0
    assert report.duplicates == 1  # the same duplicate, not every row
    assert store.hget(keys.campaign_counts("spring"), "queued") == b"5"


def test_interrupted_import_finishes_without_duplicates(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []

    def flaky(batch: dict[str, Any]) -> None:
        if len(sent) == 1:
            raise ConnectionError("Redis went away")
        sent.append(batch)

    with pytest.raises(ConnectionError):
        Importer(store, flaky, spec()).run(CsvSource(io.StringIO(CSV), name="c.csv"))
    run(store, sent)  # the re-run
    ids = [d[0] for b in sent for d in b["d"]]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 5
    assert [b["s"] for b in sent] == [0, 1, 2]


def test_two_imports_at_once_enqueue_each_batch_once(store: redis.Redis) -> None:
    """The second import runs while the first is enqueueing its first batch."""
    sent: list[dict[str, Any]] = []
    inner: list[Any] = []

    def first_enqueue(batch: dict[str, Any]) -> None:
        if not inner:
            inner.append(run(store, sent)[0])  # the other import, meanwhile
        sent.append(batch)

    outer = Importer(store, first_enqueue, spec()).run(CsvSource(io.StringIO(CSV), name="c.csv"))
    assert sorted(b["s"] for b in sent) == [0, 1, 2]
    assert (outer.enqueued, inner[0].enqueued, inner[0].busy) == (1, 2, 1)
    assert store.hget(keys.campaign_counts("spring"), "queued") == b"5"
    assert store.hget(keys.campaign_meta("spring"), "messages") == b"5"


def test_a_batch_enqueued_twice_after_all_is_counted_once(store: redis.Redis) -> None:
    """Two marks of one batch (enqueued again after a crash before its mark): counted once;
    and once marked, nobody claims it again."""
    imp = Importer(store, lambda b: None, spec())
    assert imp._once("claim", 0, 5_000) == b"mine"
    assert (imp._once("mark", 0, 2), imp._once("mark", 0, 2)) == (1, 0)
    assert imp._once("claim", 0, 5_000) == b"done"
    assert store.hget(keys.campaign_counts("spring"), "queued") == b"2"


def test_a_shared_text_too_long_for_the_gateway_is_refused_before_anything(
    store: redis.Redis,
) -> None:
    sent: list[dict[str, Any]] = []
    with pytest.raises(InputError) as e:
        run(store, sent, text="x" * 3900 + "€" * 100)  # 4,100 septets... and over 4000 bytes
    assert e.value.field == "text" and "25 parts" in str(e.value)
    assert sent == [] and not store.exists(keys.campaign_counts("spring"))


def test_a_campaign_of_the_layout_before_the_ledger_is_not_imported_again(
    store: redis.Redis,
) -> None:
    store.hset(keys.legacy_campaign_meta("spring"), "text", "Hi")
    with pytest.raises(InputError, match="before the ledger"):
        run(store, [])
