"""A campaign through real Redis, real dramatiq workers and the sandbox over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from core import keys, ledger
from dispatcher import api
from dispatcher.stack import Stack
from tests.integration.conftest import (
    assert_sent_once,
    outcome_states,
    sandbox_state,
    settings_for,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration


def test_campaign_accepted_exactly_once(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=4)
    settings = settings_for(redis_url, base, batch_size=250)
    csv_path = write_csv(tmp_path / "c.csv", 3000, bad=3)
    report = api.import_csv(csv_path, campaign="e2e", text="Hi {name}", settings=settings)
    assert (report.valid, report.invalid, report.batches) == (3000, 3, 12)

    st = wait_for(r, "e2e", lambda s: s["done_sending"] >= 3000)
    assert st["counts"] == {"accepted": 3000}

    expected = {f"e2e-{line}" for line in range(2, 3002)}
    assert_sent_once(base, expected)
    states = outcome_states(r)
    assert set(states) == expected and all(v == ["accepted"] for v in states.values())

    again = api.import_csv(csv_path, campaign="e2e", text="Hi {name}", settings=settings)
    assert again.enqueued == 0 and again.skipped == 12
    rejects = (tmp_path / "c.csv.rejects.csv").read_text()
    assert rejects.count("invalid number") == 3


def test_personalised_texts_reach_the_gateway(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    settings = settings_for(redis_url, base, batch_size=100)
    api.enqueue_campaign(
        [{"phone": "0812345678", "name": "Ann"}, {"phone": "0812345679", "name": "สมศรี"}],
        campaign="pers",
        text="สวัสดี {name}",
        settings=settings,
    )
    wait_for(r, "pers", lambda s: s["done_sending"] >= 2)
    sandbox = sandbox_state(base, ids=1)
    assert sandbox["acceptedMessages"] == 2 and sandbox["acceptedParts"] == 2


def test_send_sms_is_idempotent_by_key(r: redis.Redis, redis_url: str, stack: Stack) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    settings = settings_for(redis_url, base)
    first = api.send_sms(
        "0812345678", "Your parcel is on its way", key="order-1", settings=settings
    )
    second = api.send_sms(
        "0812345678", "Your parcel is on its way", key="order-1", settings=settings
    )
    assert first == second == "api~korder-1"
    wait_for(r, "api", lambda s: s["done_sending"] >= 1)
    assert_sent_once(base, {"api~korder-1"})


def test_send_sms_with_a_long_key_and_a_dash_in_it(
    r: redis.Redis, redis_url: str, stack: Stack
) -> None:
    """The messageId is long (bulkId must stay within 100 characters) and its key has '-'
    (it must count in its own campaign, not in a phantom one)."""
    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    settings = settings_for(redis_url, base)
    campaign, key = "c" * 64, "order-" + "9" * 114
    mid = api.send_sms("0812345678", "Receipt", key=key, campaign=campaign, settings=settings)
    st = wait_for(r, campaign, lambda s: s["done_sending"] >= 1)
    assert st["counts"] == {"accepted": 1} and st["in_flight"] == 0
    assert_sent_once(base, {mid})
    assert not r.exists(keys.campaign_counts(campaign + "~korder"))


def test_a_batch_for_a_provider_this_worker_lacks_is_dead_lettered(
    r: redis.Redis, redis_url: str, stack: Stack
) -> None:
    """A producer of another setup asked for a gateway these workers do not have: the
    batch ends in our dead letters with the reason (replayable), not stuck in dramatiq's."""
    import time

    from core.batch import Batch, Destination

    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    dests = (Destination("other-2", "66812345678"), Destination("other-3", "66812345679"))
    b = Batch(
        "other",
        0,
        "other-b0",
        "Shop",
        "Hi",
        dests,
        int(time.time() * 1000) + 600_000,
        provider="nope",
    )
    api.enqueuer(settings_for(redis_url, base))(b.to_dict())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [ledger.state(r, d.message_id) for d in dests]
        if states == ["dead", "dead"]:
            break
        time.sleep(0.2)
    assert states == ["dead", "dead"], states
    reason = r.hget(keys.deadletter("other-2"), "reason") or b""
    assert b"no provider 'nope'" in reason, reason
    assert sandbox_state(base)["acceptedMessages"] == 0
