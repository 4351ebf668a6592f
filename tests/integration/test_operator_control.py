"""Operator control and scheduling through real workers and the sandbox, counted at the
sandbox: pause stops sending within a second, cancel ends the rest `canceled`, a
`send_at` start and a delivery window are never early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from config.settings import Settings
from core.outcomes import StreamPolicy
from dispatcher import api, control
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
RATE = 200  # parts/s: slow enough to act half-way
POLICY = StreamPolicy(maxlen=100_000, final_ttl=3600)


def accepted(base: str) -> int:
    return int(sandbox_state(base)["destinationsReceived"])


def wait_sent(base: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while accepted(base) < n:
        assert time.monotonic() < deadline, f"fewer than {n} sent after {timeout}s"
        time.sleep(0.05)


def half_way(stack: Stack, redis_url: str, tmp_path: Path, campaign: str) -> tuple[str, Settings]:
    """2,000 recipients at RATE through a sandbox; returns once 300 reached it."""
    base = stack.sandbox()
    stack.workers(processes=2, threads=4, SMS_RATE=f"{RATE}/1s")
    settings = settings_for(redis_url, base, batch_size=50)
    api.import_csv(
        write_csv(tmp_path / f"{campaign}.csv", 2000),
        campaign=campaign,
        text="Hi {name}",
        settings=settings,
    )
    wait_sent(base, 300)
    return base, settings


@pytest.mark.slow
def test_pause_stops_sending_within_a_second_and_resume_finishes_once(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base, settings = half_way(stack, redis_url, tmp_path, "op")
    control.pause_campaign(r, "op")
    time.sleep(1.0)
    stopped = accepted(base)
    time.sleep(2.0)
    assert accepted(base) == stopped, "still sending more than a second after the pause"
    assert stopped < 2000
    st = control.status(r, "op")
    assert st["state"] == "paused" and st["parked_batches"] > 0

    control.resume(r, api.enqueuer(settings), "op", settings.batch_size)
    wait_for(r, "op", lambda s: s["done_sending"] >= 2000, timeout=60)
    assert_sent_once(base, {f"op-{line}" for line in range(2, 2002)})
    assert control.status(r, "op")["state"] == "done"


def test_cancel_ends_every_unsent_message_canceled_and_sends_nothing_more(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base, settings = half_way(stack, redis_url, tmp_path, "cx")
    control.cancel(r, api.enqueuer(settings), "cx", POLICY)
    st = wait_for(r, "cx", lambda s: s["in_flight"] == 0, timeout=30)
    time.sleep(1.0)
    sent = accepted(base)
    assert st["state"] == "canceled"
    assert st["counts"] == {"accepted": sent, "canceled": 2000 - sent}, st["counts"]
    assert 300 <= sent < 2000
    states = outcome_states(r)
    final = {mid: s[-1] for mid, s in states.items()}
    assert sum(1 for s in final.values() if s == "canceled") == 2000 - sent
    assert all("accepted" not in s for s in states.values() if s[-1] == "canceled")
    time.sleep(2.0)
    assert accepted(base) == sent  # nothing more went out
    with pytest.raises(control.CampaignCanceled):
        control.resume(r, api.enqueuer(settings), "cx")


def test_send_at_starts_the_campaign_then_not_before(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=4)
    settings = settings_for(redis_url, base, batch_size=100)
    start = datetime.now(UTC) + timedelta(seconds=4)
    api.import_csv(
        write_csv(tmp_path / "s.csv", 500),
        campaign="later",
        text="Hi",
        settings=settings,
        send_at=start.isoformat(),
    )
    assert control.status(r, "later")["state"] == "scheduled"
    while datetime.now(UTC) < start - timedelta(seconds=0.3):
        assert accepted(base) == 0, "sent before its send_at"
        time.sleep(0.1)
    wait_for(r, "later", lambda s: s["done_sending"] >= 500, timeout=30)
    assert_sent_once(base, {f"later-{line}" for line in range(2, 502)})


def test_a_delivery_window_holds_messages_until_it_opens_on_a_moved_clock(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    """Thai numbers, window opening at the next whole minute of Bangkok time; the workers'
    clock is moved to 4 s before that opening (SMS_CLOCK_OFFSET_S)."""
    base = stack.sandbox()
    now = datetime.now(ZoneInfo("Asia/Bangkok"))
    opens = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
    offset = (opens - now).total_seconds() - 4.0
    window = f"{opens:%H:%M}-{opens + timedelta(hours=1):%H:%M}"
    stack.workers(processes=1, threads=4, SMS_CLOCK_OFFSET_S=f"{offset:.3f}")
    settings = settings_for(redis_url, base, batch_size=100)
    api.import_csv(
        write_csv(tmp_path / "w.csv", 300),
        campaign="win",
        text="Hi",
        settings=settings,
        window=window,
    )
    held_until = time.monotonic() + 3.0
    wait_for(r, "win", lambda s: s["counts"].get("deferred", 0) == 300, timeout=15)
    while time.monotonic() < held_until:
        assert accepted(base) == 0, "sent before its delivery window opened"
        time.sleep(0.1)
    wait_for(r, "win", lambda s: s["done_sending"] >= 300, timeout=30)
    assert_sent_once(base, {f"win-{line}" for line in range(2, 302)})
