"""The worker Runtime is usable for every message a dramatiq worker can run.

dramatiq's `Worker.start` starts the worker threads between `before_worker_boot` and
`after_worker_boot`; `Worker.stop` lets in-progress messages finish between
`before_worker_shutdown` and `after_worker_shutdown`.  The runtime must be open in
both windows, or those messages fail and wait out dramatiq's own retry backoff.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from config.settings import Settings
from workers import runtime


@pytest.fixture
def broker() -> StubBroker:
    b = StubBroker()
    b.add_middleware(AsyncIO())
    b.add_middleware(runtime.Runtime(Settings(redis_url="redis://127.0.0.1:1/0")))
    return b


def test_runtime_open_from_worker_boot_to_after_shutdown(broker: StubBroker) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1)
    broker.emit_before("worker_boot", worker)
    try:
        ctx = runtime.current()  # worker threads may already be running messages here
        broker.emit_after("worker_boot", worker)
        broker.emit_before("worker_shutdown", worker)
        assert runtime.current() is ctx and not ctx.session.closed  # in-progress sends finish
    finally:
        broker.emit_after("worker_shutdown", worker)
    assert ctx.session.closed
    with pytest.raises(RuntimeError):
        runtime.current()


ROOT = Path(__file__).parents[3]
WITHOUT_SMSC = {
    "SMS_ROUTES": "*=ants,smsc",
    "ANTS_API_KEY": "k",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def test_a_worker_without_the_credentials_of_its_routes_refuses_to_start(tmp_path: Path) -> None:
    """What `dramatiq workers.actors` (and so `smsdispatch worker`) imports in every worker
    process: it exits, naming the variables, instead of retrying a campaign forever."""
    names = ("SMSC_LOGIN", "SMSC_PASSWORD", "SMS_PROVIDER")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env |= {**WITHOUT_SMSC, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "import workers.actors"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "SMSC_LOGIN and SMSC_PASSWORD: not set, but SMS_ROUTES names smsc" in done.stderr
    assert "Traceback" not in done.stderr
    env |= {"SMSC_LOGIN": "u", "SMSC_PASSWORD": "p"}
    done = subprocess.run(
        [sys.executable, "-c", "import workers.actors"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


BLOCKED_CALLS = 8  # campaign calls one process makes at once (its threads' batches)
BLOCK_S = 0.1


def _most_in_redis(r: redis.Redis, db: int, calls: Callable[[], Any]) -> int:
    """The most clients of database `db` Redis held blocked at once while `calls` ran (each
    BLPOP holds its connection for BLOCK_S, as a long Lua call holds its turn)."""
    done = threading.Event()
    seen = [0]

    def watch() -> None:
        while not done.is_set():
            clients = r.client_list()
            seen[0] = max(seen[0], sum(c["db"] == str(db) and "b" in c["flags"] for c in clients))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        calls()
    finally:
        done.set()
        watcher.join()
    return seen[0]


def test_campaign_batches_hold_at_most_the_bulk_lanes_connections(
    r: redis.Redis, redis_url: str
) -> None:
    """A transactional command finds at most SMS_BULK_REDIS_CONNECTIONS campaign calls of a
    worker process queued ahead of it in Redis: the campaign lane's client never has more
    in flight, whatever its threads ask at once; the transactional lane is not capped."""
    lanes = 2
    b = StubBroker()
    b.add_middleware(AsyncIO())
    b.add_middleware(runtime.Runtime(Settings(redis_url=redis_url, bulk_redis_connections=lanes)))
    worker = dramatiq.Worker(b, worker_threads=1)
    b.emit_before("worker_boot", worker)
    db = int(redis_url.rsplit("/", 1)[1])

    def blocked(transactional: bool) -> Callable[[], Any]:
        client = runtime.current().lane(transactional).redis

        async def together() -> None:
            await asyncio.gather(
                *(client.blpop([f"lane-test-{i}"], BLOCK_S) for i in range(BLOCKED_CALLS))
            )

        return lambda: runtime._loop().run_coroutine(together())

    try:
        assert _most_in_redis(r, db, blocked(transactional=False)) == lanes
        assert _most_in_redis(r, db, blocked(transactional=True)) == BLOCKED_CALLS
    finally:
        b.emit_before("worker_shutdown", worker)
        b.emit_after("worker_shutdown", worker)
