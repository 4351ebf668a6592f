"""The queues on RabbitMQ (`SMS_BROKER_URL=amqp://...`), state in Redis: real RabbitMQ, real
Redis, real dramatiq worker processes, the sandbox over HTTP counting real sends.

Each test module gets a RabbitMQ virtual host of its own (made and removed with
`rabbitmqctl`), so two runs on one machine never share a queue.  The RabbitMQ server
is the machine's (127.0.0.1:5672, guest/guest; `SMS_TEST_AMQP_URL` to point
elsewhere); with none there, these tests fail: they never skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from core.queues import QUEUES, queue_depths
from dispatcher import api
from dispatcher.stack import Stack
from tests.chaos import worker_children
from tests.integration.conftest import (
    assert_sent_once,
    sandbox_set,
    settings_for,
    wait_for,
)
from tests.integration.test_resilience import (
    assert_no_worker_errors,
    assert_stream_consistent,
    import_campaign,
)

pytestmark = pytest.mark.integration

AMQP_SERVER = os.environ.get("SMS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
WORKER_ENV = {"SMS_HTTP_TIMEOUT": "1.5", "SMS_MAX_ATTEMPTS": "30"}


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A fresh virtual host on the test RabbitMQ, removed afterwards."""
    if "SMS_TEST_AMQP_URL" in os.environ:  # someone else's server: its default vhost
        yield AMQP_SERVER
        return
    vhost = f"smstest-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{AMQP_SERVER}/{quote(vhost, safe='')}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def depths(amqp_url: str) -> dict[str, tuple[int, int]]:
    broker = RabbitmqBroker(url=amqp_url)
    try:
        for q in QUEUES:
            broker.declare_queue(q, ensure=True)
        return queue_depths(broker)
    finally:
        broker.close()


def wait_empty(amqp_url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := depths(amqp_url)) != {q: (0, 0) for q in QUEUES}:
        assert time.monotonic() < deadline, f"RabbitMQ queues not empty: {left}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.unmeasured
def test_campaign_over_rabbitmq_once_each_through_faults_and_a_killed_worker(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, amqp_url: str
) -> None:
    """500s (retries go through RabbitMQ's delay queues) and a SIGKILLed worker (its unacked
    batches come back when its connection drops): every message sent exactly once."""
    base = stack.sandbox()
    sandbox_set(base, "faults", {"latency_ms": 100, "error_share": 0.2})
    env = {**WORKER_ENV, "SMS_BROKER_URL": amqp_url}
    master = stack.workers(processes=2, threads=4, **env)
    n = 4000
    expected = import_campaign(
        redis_url, base, tmp_path, "rmq", n, batch_size=50, broker_url=amqp_url
    )
    assert r.keys("dramatiq:*") == []  # the queues are in RabbitMQ, not in Redis
    wait_for(r, "rmq", lambda s: s["counts"].get("accepted", 0) >= n // 4, timeout=60)

    os.kill(worker_children(master.pid)[0], signal.SIGKILL)
    master.wait(30)  # dramatiq's master stops the other worker and exits: nothing respawns
    stack.workers(processes=2, threads=4, **env)

    st = wait_for(r, "rmq", lambda s: s["in_flight"] == 0, timeout=120)
    assert st["counts"] == {"accepted": n} and st["done_sending"] == n
    sb = assert_sent_once(base, expected)
    assert sb["http"]["500"] > 0  # retries really went through the delay queues
    assert_stream_consistent(r, "rmq")
    wait_empty(amqp_url)
    assert_no_worker_errors(tmp_path)


def test_one_message_api_and_scheduled_release_over_rabbitmq(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, amqp_url: str
) -> None:
    """send_sms (the transactional queue) and a campaign with --send-at (held in Redis,
    released by the workers onto RabbitMQ)."""
    base = stack.sandbox()
    stack.workers(processes=1, threads=4, SMS_BROKER_URL=amqp_url)
    settings = settings_for(redis_url, base, broker_url=amqp_url)
    mid = api.send_sms("0812345678", "Your code is 1234", key="rmq-1", settings=settings)
    path = tmp_path / "later.csv"
    path.write_text("phone\n0812345001\n0812345002\n", encoding="utf-8")
    at = time.time() + 3
    send_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at))
    report = api.import_csv(
        path, campaign="later", text="Hello", settings=settings, send_at=send_at
    )
    assert report.valid == 2
    wait_for(r, "later", lambda s: s["counts"].get("accepted", 0) == 2, timeout=60)
    assert time.time() >= at - 1  # not before its time (send-at has a 1 s resolution)
    sb = assert_sent_once(base, {mid, "later-2", "later-3"})
    assert len(sb["accepted"]) == 3
    wait_empty(amqp_url)
