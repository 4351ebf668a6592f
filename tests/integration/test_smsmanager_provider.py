"""SmsManager end to end: real Redis, real dramatiq workers, the SmsManager sandbox over HTTP.

The sandbox counts every send of an id it receives (`{customid}:{number}`, the message's
id at SmsManager) and, as SmsManager does, accepts a reused one (`dedupe_ids` off): each
test ends with every number of the campaign sent exactly once (counted by number, so
however our requests were numbered).  The sandbox takes the least favourable reading of
the documentation: `/RequestList` lists only requests still queued, so a lookup cannot
show what the gateway took and sent.  The fault runs make the gateway fail requests
(HTTP 500 before taking anything) and take requests without answering (hang past the
client's timeout, or drop the connection): what it took in those is held `unknown`,
never sent again; the kill run SIGKILLs workers mid-campaign: what a dead run had claimed
but not yet sent is sent, once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import redis

from dispatcher import api, unknowns
from dispatcher.stack import Stack
from tests.chaos import asked_in, wait_until, worker_children
from tests.integration.conftest import (
    assert_numbers_sent_once,
    csv_numbers,
    sandbox_set,
    sandbox_state,
    settings_for,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration

PROVIDER = "smsmanager"
WORKER_ENV = {
    "SMS_PROVIDER": PROVIDER,
    "SMS_HTTP_TIMEOUT": "1.5",
    "SMS_HEARTBEAT_TIMEOUT_MS": "3000",
    "SMS_MAX_ATTEMPTS": "30",
}


def import_campaign(
    redis_url: str, base: str, tmp_path: Path, campaign: str, n: int, text: str, batch_size: int
) -> None:
    settings = settings_for(redis_url, base, batch_size=batch_size)
    report = api.import_csv(
        write_csv(tmp_path / f"{campaign}.csv", n),
        campaign=campaign,
        text=text,
        settings=settings,
        provider=PROVIDER,
    )
    assert report.valid == n


def assert_no_worker_errors(tmp_path: Path) -> None:
    for log in (tmp_path / "logs").glob("workers-*.log"):
        text = log.read_text(errors="replace")
        assert "Failed to process message" not in text, log
        assert "Unexpected failure" not in text, log
        assert "unexpected error" not in text, log


def finish(r: redis.Redis, campaign: str, n: int, timeout: float = 120) -> dict[str, Any]:
    """The campaign done: every message accepted or held unknown, nothing else."""
    st = wait_for(
        r, campaign, lambda s: s["in_flight"] == 0 and s["done_sending"] >= n, timeout=timeout
    )
    assert set(st["counts"]) <= {"accepted", "unknown"} and not st["paused"], st["counts"]
    assert sum(st["counts"].values()) == n and st["unknown"] == st["counts"].get("unknown", 0)
    return st


def held_numbers(r: redis.Redis, campaign: str) -> set[str]:
    return {row["to"] for row in unknowns.listing(r, campaign)}


def numbers_in_timeouts(sb: dict[str, Any]) -> set[str]:
    """The numbers the gateway took in requests it then never answered."""
    return {key.rsplit(":", 1)[1] for key in sb["acceptedInTimeouts"]}


@pytest.mark.parametrize(
    ("text", "requests"),
    [("Hi, your parcel is on its way", {"/Send": 10}), ("Hi {name}", {"/Send XMLDATA": 10})],
    ids=["shared", "personal"],
)
def test_campaign_sent_exactly_once(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, text: str, requests: int
) -> None:
    base = stack.sandbox(provider=PROVIDER)
    stack.workers(processes=1, threads=4, **WORKER_ENV)
    n = 1000
    import_campaign(redis_url, base, tmp_path, "smm", n, text, batch_size=100)

    assert finish(r, "smm", n)["counts"] == {"accepted": n}
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    # one request per batch: a shared text's /Send, or one XML document with a <Request>
    # per text; no outcome was unknown, so the gateway was never asked
    assert sb["requests"] == requests
    assert sb["http"] == {"200": 10} and sb["maxConcurrentRequests"] >= 1
    assert asked_in(tmp_path / "logs") == (0, 0)
    assert_no_worker_errors(tmp_path)


@pytest.mark.parametrize(
    ("mode", "text"),
    [("mixed", "Hello from the shop"), ("sleep", "Hello from the shop"), ("mixed", "Hi {name}")],
    ids=["mixed-shared", "sleep-shared", "mixed-personal"],
)
@pytest.mark.unmeasured
def test_faults_never_twice_what_was_taken_is_held_unknown(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, mode: str, text: str
) -> None:
    """20 % HTTP 500 before anything is taken, 10 % taken and then the answer held past
    the client's timeout or the connection dropped: every number reaches the gateway
    once; exactly those taken in unanswered requests are held unknown, never resent."""
    base = stack.sandbox(provider=PROVIDER)
    faults = {
        "error_share": 0.2,
        "timeout_share": 0.1,
        "timeout_every": 8,
        "timeout_mode": mode,
        "timeout_sleep_s": 2.5,
    }
    sandbox_set(base, "faults", faults)
    stack.workers(processes=2, threads=8, **WORKER_ENV)
    n = 1000
    import_campaign(redis_url, base, tmp_path, "smf", n, text, batch_size=50)

    st = finish(r, "smf", n, timeout=150)
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    assert sb["http"]["500"] > 0 and sb["timeouts"], sb["http"]
    taken_unanswered = numbers_in_timeouts(sb)
    assert taken_unanswered and held_numbers(r, "smf") == taken_unanswered
    assert st["unknown"] == len(taken_unanswered)
    assert sandbox_state(base)["inflight"] == 0
    assert_no_worker_errors(tmp_path)


@pytest.mark.slow
@pytest.mark.unmeasured
def test_worker_kills_at_latency_send_nothing_twice_and_lose_nothing_silently(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    """400 ms gateway latency, a worker process SIGKILLed 3 times mid-campaign: what a
    killed run had claimed but not started goes out once; what it may have sent is held
    `unknown`, never resent.  A kill between a request's `sending` stamp and its bytes
    reaching the gateway leaves a number held that the gateway never got: rare, visible
    (`smsdispatch unknown list`), never silent; every other number reaches it once."""
    base = stack.sandbox(provider=PROVIDER)
    sandbox_set(base, "faults", {"latency_ms": 400})
    master = stack.workers(processes=2, threads=4, **WORKER_ENV)
    n = 1500
    import_campaign(redis_url, base, tmp_path, "smk", n, "Hi {name}", batch_size=25)
    for k in range(3):
        # booted (a child killed before it is ready holds its master for dramatiq's
        # worker_fork_timeout, 30 s), and the campaign k+1 fifths through
        stack.wait_ready(master)
        target = n * (k + 1) // 5
        wait_until(lambda t=target: sandbox_state(base)["acceptedMessages"] >= t, 120)
        os.kill(worker_children(master.pid)[0], signal.SIGKILL)
        master.wait(60)  # dramatiq's master stops the other worker and exits
        master = stack.workers(processes=2, threads=4, **WORKER_ENV)

    st = finish(r, "smk", n, timeout=200)
    sends: dict[str, int] = {}
    for key, count in sandbox_state(base, ids=1)["accepted"].items():
        number = key.rsplit(":", 1)[1]
        sends[number] = sends.get(number, 0) + count
    assert {number: c for number, c in sends.items() if c > 1} == {}  # never twice
    held = held_numbers(r, "smk")
    assert st["unknown"] == len(held)
    never_sent = csv_numbers(n) - set(sends)
    assert never_sent <= held, sorted(never_sent - held)[:5]  # none lost silently
    # at most the requests in flight in the killed process: its threads x a batch, per kill
    assert len(never_sent) <= 3 * 4 * 25, never_sent
