"""A transactional message is not held up by campaign batches its worker already prefetched,
nor by their Redis calls (the campaign's lane)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis

from dispatcher import api
from dispatcher.stack import Stack
from tests.integration.conftest import sandbox_set, settings_for, wait_for, write_csv
from workers.runtime import LANE_NAMES

pytestmark = pytest.mark.integration
LATENCY_MS = 1500


def test_transactional_jumps_the_prefetched_campaign_batches(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    sandbox_set(base, "faults", {"latency_ms": LATENCY_MS})
    # dramatiq prefetches 2 x 4 = 8 messages a queue; the campaign's Redis lane: 1 connection
    stack.workers(processes=1, threads=4, SMS_BULK_REDIS_CONNECTIONS="1")
    settings = settings_for(redis_url, base, batch_size=10)
    api.import_csv(
        write_csv(tmp_path / "c.csv", 300), campaign="bulk", text="Hi {name}", settings=settings
    )
    wait_for(r, "bulk", lambda s: s["counts"].get("accepted", 0) >= 10)  # the worker is busy
    time.sleep(LATENCY_MS / 4000)  # and has prefetched the next batches behind those in hand
    api.send_sms("0899999999", "Your code is 1234", key="otp-1", settings=settings)
    sent_at = time.monotonic()
    wait_for(r, "api", lambda s: s["done_sending"] >= 1)
    waited = time.monotonic() - sent_at
    print(f"transactional sent {waited:.2f}s after send_sms")
    # the batches in hand finish, then its own request: under 2 x latency.  Behind the 4
    # campaign batches prefetched (4 threads: one more round) it would take 3 x latency.
    assert waited < 2.5 * LATENCY_MS / 1000, waited
    # the worker's campaign batches went through the bulk lane, however many threads it
    # runs (SMS_BULK_REDIS_CONNECTIONS), its transactional one through the main client
    db = int(redis_url.rsplit("/", 1)[1])
    names = [c["name"] for c in r.client_list() if c["db"] == str(db)]
    assert names.count(LANE_NAMES[False]) == 1, names
    assert names.count(LANE_NAMES[True]) >= 1, names


def test_nice_workers_run_below_the_default_cpu_priority(stack: Stack) -> None:
    """`smsdispatch worker --nice N` (the Procfile's campaign `worker`): its dramatiq master
    and every worker process run N steps below this process's priority, so a transactional
    worker on the same host gets a core first."""
    from tests.chaos import worker_children

    stack.sandbox()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    niced = stack.workers(processes=2, threads=1, nice=7)
    plain = stack.workers(processes=1, threads=1)
    stack.wait_ready(niced)
    stack.wait_ready(plain)
    for pid in (niced.pid, *worker_children(niced.pid)):
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + 7), pid
    for pid in (plain.pid, *worker_children(plain.pid)):
        assert os.getpriority(os.PRIO_PROCESS, pid) == ours, pid
