"""The worker Runtime is usable for every message a dramatiq worker can run.

dramatiq's `Worker.start` starts the worker threads between `before_worker_boot` and
`after_worker_boot`; `Worker.stop` lets in-progress messages finish between
`before_worker_shutdown` and `after_worker_shutdown`.  The runtime must be open in
both windows, or those messages fail and wait out dramatiq's own retry backoff.
"""

from __future__ import annotations

import dramatiq
import pytest
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
