"""The opt-out list: reasons, expiry, a learned entry never shortening a person's, and
numbers learned from delivery reports whose code says the number is bad."""

from __future__ import annotations

import time

import pytest
import redis

from core import keys, optout
from core.outcomes import StreamPolicy
from dispatcher.reports import ingest
from providers import registry
from tests.unit.sent_kit import in_flight

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def test_add_check_remove(store: redis.Redis) -> None:
    assert optout.add(store, optout.entries_for(["661", "662"], optout.MANUAL, "asked")) == 2
    assert optout.add(store, optout.entries_for(["662", "663"], optout.IMPORT, "list")) == 1
    found = optout.check(store, ["661", "662", "664"])
    assert [e.source if e else None for e in found] == ["manual", "import", None]
    assert found[0] is not None and found[0].reason == "asked" and found[0].expires == 0
    assert optout.remove(store, ["661", "999"]) == 1
    assert sorted(e.number for e in optout.listing(store)) == ["662", "663"]


def test_an_expired_entry_does_not_count_and_is_dropped(store: redis.Redis) -> None:
    old = [optout.Entry("661", 1, int(time.time()) - 5, optout.LEARNED, "unknown subscriber")]
    optout.add(store, old)
    assert optout.check(store, ["661"]) == [None]
    assert list(optout.listing(store)) == []
    optout.add(store, optout.entries_for(["662"], optout.MANUAL, "x"))  # drops lapsed ones
    assert store.hkeys(keys.OPTOUT) == [b"662"] and store.zcard(keys.OPTOUT_EXPIRY) == 0


def test_a_learned_entry_never_shortens_a_permanent_one(store: redis.Redis) -> None:
    optout.add(store, optout.entries_for(["661"], optout.MANUAL, "asked by phone"))
    optout.add(store, optout.learned([("661", "ants 14 REJECTED_DESTINATION")], days=90))
    (entry,) = optout.check(store, ["661"])
    assert entry is not None and (entry.source, entry.expires) == ("manual", 0)
    # ... but a person's opt-out does replace a learned one, for good
    optout.add(store, optout.learned([("662", "ants 1 EC_UNKNOWN_SUBSCRIBER")], days=90))
    optout.add(store, optout.entries_for(["662"], optout.MANUAL, "asked"))
    (entry,) = optout.check(store, ["662"])
    assert entry is not None and entry.expires == 0 and store.zcard(keys.OPTOUT_EXPIRY) == 0


def test_a_reason_with_bars_survives(store: redis.Redis) -> None:
    optout.add(store, optout.entries_for(["661"], optout.MANUAL, "a|b|c\nd"))
    (entry,) = optout.check(store, ["661"])
    assert entry is not None and entry.reason == "a|b|c d"


def test_legacy_set_is_adopted(store: redis.Redis) -> None:
    store.sadd(keys.LEGACY_SUPPRESSED, "661", "662")
    assert optout.adopt_legacy(store, days=30) == 2
    assert not store.exists(keys.LEGACY_SUPPRESSED)
    assert {e.number for e in optout.listing(store) if e.source == optout.LEARNED} == {"661", "662"}


# Final reports whose code says the number is bad, one per provider and format, written
# from the seeds: ANTS 2018 error 1 EC_UNKNOWN_SUBSCRIBER (permanent), ANTS v1 status 404
# (invalid MSISDN), SMSC.ru status 22 (invalid number), SmsManager receipt state 7.
BAD = [
    (
        "ants",
        "application/json",
        b'{"results":[{"messageId":"c-2","to":"66811111112","status":{"groupId":2,'
        b'"groupName":"UNDELIVERABLE","id":5,"name":"UNDELIVERABLE_REJECTED_OPERATOR"},'
        b'"error":{"groupId":1,"groupName":"HANDSET_ERRORS","id":1,'
        b'"name":"EC_UNKNOWN_SUBSCRIBER","permanent":true}}]}',
        {},
    ),
    (
        "ants",
        "application/json",
        b'{"bulkId":"b","details":[{"messageId":"c-2","to":"66811111112",'
        b'"status":{"code":"404","name":"REJECTED"}}]}',
        {},
    ),
    ("smsc", "application/json", b'[{"id": "c-2", "phone": "66811111112", "status": 22}]', {}),
    ("smsmanager", "", b"", {"id": "c-2", "to": "66811111112", "status": "7"}),
]


@pytest.mark.parametrize(
    ("provider", "ctype", "body", "query"), BAD, ids=["ants-2018", "ants-v1", "smsc", "smsmanager"]
)
def test_a_bad_number_report_opts_the_number_out(
    store: redis.Redis, provider: str, ctype: str, body: bytes, query: dict[str, str]
) -> None:
    parsed = registry.get(provider).parse_report(body, ctype, query)
    reports = list(parsed.reports)
    assert [r.suppress for r in reports] == [True]
    in_flight(store, "c-2")  # sent: its request is out
    if provider != "ants":  # reports name the gateway's own id: the worker kept ours under it
        store.set(keys.provider_id(provider, reports[0].message_id), "c-2")
    ingest.apply_sync(store, reports, P, learned_days=30)
    (entry,) = optout.check(store, ["66811111112"])
    assert entry is not None and entry.source == optout.LEARNED
    assert 29 * 86400 < entry.expires - time.time() <= 30 * 86400
    assert provider in entry.reason


def test_a_delivered_report_opts_nobody_out(store: redis.Redis) -> None:
    body = (
        b'{"results":[{"messageId":"c-2","to":"66811111112","status":{"groupId":3,'
        b'"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"}}]}'
    )
    reports = list(registry.get("ants").parse_report(body, "application/json", {}).reports)
    assert [r.suppress for r in reports] == [False]
    ingest.apply_sync(store, reports, P)
    assert optout.check(store, ["66811111112"]) == [None]
