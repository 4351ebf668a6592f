"""The status JSON tells the truth: sent is what the gateway took, a canceled campaign is
not 100% sent, top errors are real failures, waits have reasons, channels are channels."""

from __future__ import annotations

import time

import pytest
import redis

from core import keys
from core.errors import CampaignConflict
from core.outcomes import Event, State, StreamPolicy, Waiting, record
from dispatcher import control

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def campaign(store: redis.Redis, name: str = "c", messages: int = 4, **meta: object) -> None:
    store.sadd(keys.CAMPAIGNS, name)
    fields = {"messages": messages, "created": 1, "imported": 1, **meta}
    store.hset(keys.campaign_meta(name), mapping=fields)  # type: ignore[arg-type]
    store.hset(keys.campaign_counts(name), "queued", messages)


def test_a_canceled_campaign_is_not_shown_as_sent(store: redis.Redis) -> None:
    campaign(store)
    store.hset(keys.campaign_meta("c"), mapping={"canceled": 1, "paused": "canceled"})
    taken = [Event("c-0", "c", State.DELIVERED, provider="ants")]
    ended = [Event(f"c-{i}", "c", State.CANCELED) for i in (1, 2, 3)]
    record(store, taken + ended, P)
    st = control.status(store, "c")
    assert (st["sent"], st["ended_unsent"], st["unknown"], st["in_flight"]) == (1, 3, 0, 0)
    assert st["sent"] + st["ended_unsent"] + st["unknown"] + st["in_flight"] == st["messages"]
    assert st["progress"] == 1.0 and st["state"] == "canceled" and st["sending"] is False
    assert st["top_errors"] == []  # a cancel is not an error
    assert st["accepted_by_provider"] == {"ants": 1}


def test_top_errors_are_failures_with_a_code(store: redis.Redis) -> None:
    campaign(store)
    record(
        store,
        [
            Event("c-0", "c", State.EXPIRED, status_name="EXPIRED", error_id="0"),
            Event("c-1", "c", State.DEAD),
            Event(
                "c-2",
                "c",
                State.UNDELIVERABLE,
                status_name="UNDELIVERABLE_NOT_DELIVERED",
                error_id="1",
            ),
        ],
        P,
    )
    st = control.status(store, "c")
    assert [(e["status"], e["error_name"], e["count"]) for e in st["top_errors"]] == [
        ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNKNOWN_SUBSCRIBER", 1)
    ]
    assert st["progress"] == 0.75 and st["sending"] is True


def test_status_says_why_messages_wait(store: redis.Redis) -> None:
    campaign(store, window="09:00-20:00")
    opens = int(time.time() * 1000) + 3_600_000
    record(
        store,
        [
            Event("c-0", "c", State.DEFERRED, retry_at=opens, waiting=Waiting.WINDOW),
            Event("c-1", "c", State.DEFERRED, retry_at=opens, waiting=Waiting.RATE_LIMIT),
            Event("c-2", "c", State.DEFERRED, retry_at=opens, waiting=Waiting.GATEWAY_THROTTLED),
        ],
        P,
    )
    control.pause_campaign(store, "c", who="key:ops")
    record(store, [Event("c-3", "c", State.PAUSED)], P)
    waiting = control.status(store, "c")["waiting"]
    assert waiting == {
        "gateway_throttled": 1,
        "rate_limit": 1,
        "window": {"count": 1, "opens_at": "09:00 local time", "next_opening": opens},
        "paused": {"count": 1, "reason": "paused by an operator (key:ops)", "by": "key:ops"},
    }


def test_channels_are_open_and_cannot_be_paused_or_canceled(store: redis.Redis) -> None:
    campaign(store, "api", kind="transactional")
    campaign(store, "otp")
    store.hdel(keys.campaign_meta("api"), "imported")
    for name, kind in (("api", "messages"), ("otp", "otp")):
        st = control.status(store, name)
        assert (st["kind"], st["state"]) == (kind, "open")
        with pytest.raises(CampaignConflict, match="channel"):
            control.pause_campaign(store, name)
        with pytest.raises(CampaignConflict, match="channel"):
            control.cancel(store, lambda b: None, name, P)
    assert not store.hexists(keys.campaign_meta("api"), "paused")
    campaign(store, "c")
    assert control.status(store, "c")["kind"] == "campaign"


def test_resume_of_a_finished_campaign_changes_nothing(store: redis.Redis) -> None:
    campaign(store, messages=1)
    record(store, [Event("c-0", "c", State.DELIVERED)], P)
    answer = control.resume_if_paused(store, lambda b: None, "c")
    assert answer == {
        "changed": False,
        "resumed_batches": 0,
        "message": "nothing to resume: campaign is done",
    }
    control.pause_campaign(store, "c")
    assert control.resume_if_paused(store, lambda b: None, "c")["changed"] is True


def test_message_status_for_other_services(r: redis.Redis, redis_url: str) -> None:
    """api.message_status answers what GET /v1/messages/{id} answers (one code)."""
    from config.settings import Settings
    from dispatcher import api

    s = Settings(redis_url=redis_url, ants_username="u", ants_password="p")
    record(r, [Event("c-2", "c", State.ACCEPTED, to="66812345678", provider="ants")], P)
    m = api.message_status("c-2", settings=s)
    assert m is not None and (m["messageId"], m["state"], m["campaign"]) == ("c-2", "accepted", "c")
    assert (m["to"], m["provider"]) == ("66812345678", "ants")
    assert api.message_status("c-3", settings=s) is None
    campaign(r, "c")
    assert api.campaign_status("c", settings=s)["kind"] == "campaign"
