"""SmsManager end to end: real Redis, real dramatiq workers, the SmsManager sandbox over HTTP.

The sandbox counts every send of an id it receives (`{customid}:{number}`, the message's
id at SmsManager) and, as SmsManager does, accepts a reused one (`dedupe_ids` off): each
test ends with every number of the campaign sent exactly once (counted by number, so
however our requests were numbered).  The fault run makes the
gateway fail requests (HTTP 500 before taking anything) and take requests without
answering (hang past the client's timeout, or drop the connection): what it took is
found by `lookup` (/RequestList + /RequestStatus) and never sent again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from dispatcher import api
from dispatcher.stack import Stack
from tests.chaos import asked_in
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
WORKER_ENV = {"SMS_PROVIDER": PROVIDER, "SMS_HTTP_TIMEOUT": "1.5",
              "SMS_HEARTBEAT_TIMEOUT_MS": "3000", "SMS_MAX_ATTEMPTS": "30"}  # fmt: skip


def import_campaign(redis_url: str, base: str, tmp_path: Path, campaign: str, n: int,
                    text: str, batch_size: int) -> None:  # fmt: skip
    settings = settings_for(redis_url, base, batch_size=batch_size)
    report = api.import_csv(write_csv(tmp_path / f"{campaign}.csv", n), campaign=campaign,
                            text=text, settings=settings, provider=PROVIDER)  # fmt: skip
    assert report.valid == n


def assert_no_worker_errors(tmp_path: Path) -> None:
    for log in (tmp_path / "logs").glob("workers-*.log"):
        text = log.read_text(errors="replace")
        assert "Failed to process message" not in text, log
        assert "Unexpected failure" not in text, log
        assert "unexpected error" not in text, log


def finish(r: redis.Redis, campaign: str, n: int, timeout: float = 120) -> dict[str, Any]:
    st = wait_for(r, campaign, lambda s: s["in_flight"] == 0 and s["done_sending"] >= n,
                  timeout=timeout)  # fmt: skip
    assert st["counts"] == {"accepted": n} and not st["paused"]
    return st


@pytest.mark.parametrize(
    ("text", "requests"),
    [("Hi, your parcel is on its way", 10), ("Hi {name}", 1000)],
    ids=["shared", "personal"],
)
def test_campaign_sent_exactly_once(r: redis.Redis, redis_url: str, stack: Stack,
                                    tmp_path: Path, text: str, requests: int) -> None:  # fmt: skip
    base = stack.sandbox(provider=PROVIDER)
    stack.workers(processes=1, threads=4, **WORKER_ENV)
    n = 1000
    import_campaign(redis_url, base, tmp_path, "smm", n, text, batch_size=100)

    finish(r, "smm", n)
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    # one request per batch for a shared text, one per text for personalised ones; no
    # outcome was unknown, so the gateway was never asked
    assert sb["requests"] == {"/Send": requests}
    assert sb["http"] == {"200": requests} and sb["maxConcurrentRequests"] >= 1
    assert asked_in(tmp_path / "logs") == (0, 0)
    assert_no_worker_errors(tmp_path)


@pytest.mark.parametrize(("mode", "text"), [("drop", "Hello from the shop"),
                                            ("sleep", "Hello from the shop"),
                                            ("drop", "Hi {name}")],
                         ids=["drop-shared", "sleep-shared", "drop-personal"])  # fmt: skip
def test_faults_no_double_sends(r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path,
                                mode: str, text: str) -> None:  # fmt: skip
    base = stack.sandbox(provider=PROVIDER)
    sandbox_set(base, "faults", {"error_share": 0.3, "timeout_every": 8, "timeout_mode": mode,
                                 "timeout_sleep_s": 2.5})  # fmt: skip
    stack.workers(processes=2, threads=8, **WORKER_ENV)
    n = 1000
    import_campaign(redis_url, base, tmp_path, "smf", n, text, batch_size=50)

    finish(r, "smf", n, timeout=150)
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    assert sb["http"]["500"] > 0 and sb["timeouts"], sb["http"]
    # the gateway took these, then its answer never came: found by lookup, never resent
    in_timeouts = set(sb["acceptedInTimeouts"])
    assert in_timeouts and all(sb["seen"][k] == 1 for k in in_timeouts)
    assert sb["requests"].get("/RequestList", 0) > 0 and sb["requests"].get("/RequestStatus", 0)
    total, had = asked_in(tmp_path / "logs")
    assert had >= len(in_timeouts) and total >= had, (total, had, len(in_timeouts))
    assert sandbox_state(base)["inflight"] == 0
    assert_no_worker_errors(tmp_path)
