"""Per-process resources of a worker, opened on dramatiq's event loop, never at import time.

`Runtime` is a dramatiq middleware: in `before_worker_boot` it opens one
`aiohttp.ClientSession` and one `redis.asyncio` client on the event loop that the
`AsyncIO` middleware runs, and a heartbeat thread (see `workers.broker`); in
`after_worker_shutdown` it closes them.  Actors reach them through `current()`.

Why those two hooks: dramatiq's `Worker.start` starts the worker threads between
`before_worker_boot` and `after_worker_boot`, and `Worker.stop` lets the in-progress
messages finish between `before_worker_shutdown` and `after_worker_shutdown`.
Opening later or closing earlier fails the messages of those windows (a batch
waiting when the worker starts, a send in flight on SIGTERM), which dramatiq then
retries only after its own backoff (15 s and more).  The `AsyncIO` middleware must
come first (its loop starts in its `before_worker_boot`, and `after_*` hooks run
in reverse order, so the loop is still running when we close).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread
from dramatiq.middleware import Middleware

from config.settings import Settings
from workers.broker import CAMPAIGN_QUEUE
from workers.metrics import METRICS

log = logging.getLogger(__name__)
CONNECTIONS_PER_HOST = 64
REDIS_SOCKET_TIMEOUT = 10.0


@dataclass
class Context:
    settings: Settings
    session: aiohttp.ClientSession
    redis: aioredis.Redis
    broker: Any


_current: Context | None = None


def current() -> Context:
    if _current is None:
        raise RuntimeError("worker runtime not booted (Runtime middleware missing?)")
    return _current


class Runtime(Middleware):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        global _current
        if self.settings.metrics_port:
            METRICS.start()  # after dramatiq's Prometheus middleware set up multiprocess mode
        _current = _loop().run_coroutine(self._open(broker))
        threading.Thread(target=self._heartbeat, args=(broker,), daemon=True).start()

    async def _open(self, broker: Any) -> Context:
        connector = aiohttp.TCPConnector(limit_per_host=CONNECTIONS_PER_HOST)
        session = aiohttp.ClientSession(connector=connector)
        client = aioredis.Redis.from_url(
            self.settings.redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT
        )
        return Context(self.settings, session, client, broker)

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        global _current
        self._stop.set()
        if _current is not None:
            _loop().run_coroutine(self._close(_current))
            _current = None

    async def _close(self, ctx: Context) -> None:
        await ctx.session.close()
        await ctx.redis.aclose()

    def _heartbeat(self, broker: Any) -> None:
        """Any broker command refreshes this process's heartbeat; qsize is the cheapest."""
        interval = self.settings.heartbeat_timeout_ms / 3000
        while not self._stop.wait(interval):
            try:
                broker.do_qsize(CAMPAIGN_QUEUE)
            except Exception as exc:  # keep beating through a Redis blip
                log.warning("heartbeat failed: %r", exc)


def _loop() -> EventLoopThread:
    """dramatiq's event-loop thread (the AsyncIO middleware must come before Runtime)."""
    thread = get_event_loop_thread()
    if thread is None:
        raise RuntimeError("no dramatiq event loop: add the AsyncIO middleware before Runtime")
    return thread
