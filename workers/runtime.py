"""Per-process resources of a worker, opened on dramatiq's event loop, never at import time.

`Runtime` is a dramatiq middleware: in `before_worker_boot` it opens one
`aiohttp.ClientSession` and one `redis.asyncio` client on the event loop that the
`AsyncIO` middleware runs, and a heartbeat thread (see `core.queues`); in
`after_worker_shutdown` it closes them.  Actors reach them through `current()`.

Why those two hooks: dramatiq's `Worker.start` starts the worker threads between
`before_worker_boot` and `after_worker_boot`, and `Worker.stop` lets the in-progress
messages finish between `before_worker_shutdown` and `after_worker_shutdown`.
Opening later or closing earlier fails the messages of those windows (a batch
waiting when the worker starts, a send in flight on SIGTERM), which dramatiq then
retries only after its own backoff (15 s and more).  The `AsyncIO` middleware must
come first (its loop starts in its `before_worker_boot`, and `after_*` hooks run
in reverse order, so the loop is still running when we close).

Two lanes to Redis: campaign batches use a client of their own whose pool holds
`SMS_BULK_REDIS_CONNECTIONS` connections (2 by default; `Context.lane`), transactional
ones the process's main client (up to `MAX_CONNECTIONS`).  Redis runs one command at a
time, each client's in turn, so a transactional command finds at most that many campaign
calls (a chunk of claims, records or flooding checks: 1-3 ms each) queued ahead of it from
each worker process, not one per thread; the campaign still keeps Redis busy, so it drains
as fast (docs/performance.md, "A lane of its own").  On a Redis Cluster both lanes are one
client (a cluster client opens a node's connections as it needs them).

Redis outages: the worker's Redis clients (this one and the broker's, see
`core.queues.outage_retry`) retry every command until Redis answers again, so a
Redis restart pauses the batches in hand instead of failing them, and nothing
stays behind in a live worker's ack set.

Stopping: systemd and honcho send SIGTERM to the whole process group, so each
dramatiq worker process gets it twice (once from the group, once forwarded by
dramatiq's master), and dramatiq takes a second SIGTERM as "exit now" in the
middle of its graceful stop, which then hangs on the event loop thread.  In each
worker process `Runtime` keeps the first signal (dramatiq's graceful stop: batches
in hand finish, prefetched ones are requeued), ignores repeats, tells running
batches to stop pacing (`Context.stopping`), and exits the process by itself if
the stop takes longer than the shutdown timeout (what is still unacked is then
requeued by the broker, see `core.queues`).

Scheduled batches: every worker process also runs `core.schedule.release` about once
every RELEASE_EVERY_S on a thread of its own, so a campaign's `--send-at`, a delivery
window's opening and long deferrals reach the queue on time with any number of workers
(a per-campaign lock in Redis keeps them from doing the same work twice).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread
from dramatiq.middleware import Middleware

from config.settings import Settings
from core import clock, schedule
from core.queues import (
    CAMPAIGN_QUEUE,
    async_outage_retry,
    beats,
    enqueue_batch,
    outage_retry,
    served,
)
from core.redis_pool import async_redis, sync_redis
from workers.metrics import METRICS

log = logging.getLogger(__name__)
CONNECTIONS_PER_HOST = 64
REDIS_POOL_WAIT_S = 60.0  # a run waits this long for a free connection of its process
EXIT_MARGIN_S = 5.0  # after the shutdown timeout, the process exits by itself
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
RELEASE_EVERY_S = 1.0  # how often each worker process releases due scheduled batches
# each lane's connections by name in Redis' CLIENT LIST (keyed by `transactional`)
LANE_NAMES = {True: "smsdispatch-worker", False: "smsdispatch-worker-bulk"}


@dataclass(frozen=True)
class Context:
    settings: Settings
    session: aiohttp.ClientSession
    redis: aioredis.Redis
    broker: Any
    stopping: threading.Event = field(default_factory=threading.Event)
    bulk_redis: aioredis.Redis | None = None  # the campaign lane's client (None: `redis`)

    def lane(self, transactional: bool) -> Context:
        """This context for one batch: a campaign batch's Redis calls go through the bulk
        lane's few connections, a transactional batch's through the main client."""
        if transactional or self.bulk_redis is None:
            return self
        return replace(self, redis=self.bulk_redis)


_current: Context | None = None


def current() -> Context:
    if _current is None:
        raise RuntimeError("worker runtime not booted (Runtime middleware missing?)")
    return _current


class Runtime(Middleware):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self.stopping = threading.Event()

    def after_process_boot(self, broker: Any) -> None:
        """In a dramatiq worker process: keep the first stop signal, ignore repeats."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal(signal.getsignal(sig)))

    def _on_signal(self, dramatiq_handler: Any) -> Any:
        def handler(signum: int, frame: Any) -> None:
            if self.stopping.is_set():
                log.info("already stopping: signal %d ignored", signum)
                return
            self.stopping.set()
            limit = self.settings.shutdown_timeout_ms / 1000 + EXIT_MARGIN_S
            threading.Thread(target=self._exit_after, args=(limit,), daemon=True).start()
            if callable(dramatiq_handler):
                dramatiq_handler(signum, frame)

        return handler

    def _exit_after(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            return
        log.warning("still stopping after %.0f s: exiting; unacked batches are requeued", seconds)
        logging.shutdown()
        os._exit(1)

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        global _current
        if self.settings.metrics_port:
            METRICS.start()  # after dramatiq's Prometheus middleware set up multiprocess mode
        _current = _loop().run_coroutine(self._open(broker))
        if beats(broker):
            threading.Thread(target=self._heartbeat, args=(broker,), daemon=True).start()
        if served(broker):
            threading.Thread(target=self._release, args=(broker,), daemon=True).start()

    async def _open(self, broker: Any) -> Context:
        connector = aiohttp.TCPConnector(limit_per_host=CONNECTIONS_PER_HOST)
        session = aiohttp.ClientSession(connector=connector)
        s = self.settings
        # the pool waits for a free connection; every command waits for Redis to come back
        client = async_redis(
            s.redis_url,
            wait_timeout=REDIS_POOL_WAIT_S,
            retry=async_outage_retry(),
            cluster=s.redis_cluster,
            client_name=LANE_NAMES[True],
        )
        bulk = None
        if not s.redis_cluster:  # its few connections are held through an outage: wait on
            bulk = async_redis(
                s.redis_url,
                max_connections=s.bulk_redis_connections,
                wait_timeout=None,
                retry=async_outage_retry(),
                client_name=LANE_NAMES[False],
            )
        return Context(s, session, client, broker, self.stopping, bulk)

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.stopping.set()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        global _current
        self._stop.set()
        if _current is not None:
            _loop().run_coroutine(self._close(_current))
            _current = None

    async def _close(self, ctx: Context) -> None:
        await ctx.session.close()
        await ctx.redis.aclose()
        if ctx.bulk_redis is not None:
            await ctx.bulk_redis.aclose()

    def _heartbeat(self, broker: Any) -> None:
        """Any broker command refreshes this process's heartbeat; qsize is the cheapest."""
        interval = self.settings.heartbeat_timeout_ms / 3000
        while not self._stop.wait(interval):
            try:
                broker.do_qsize(CAMPAIGN_QUEUE)
            except Exception as exc:  # keep beating through a Redis blip
                log.warning("heartbeat failed: %r", exc)

    def _release(self, broker: Any) -> None:
        """Put scheduled batches that are due on the queue (core.schedule), kept in REDIS_URL's
        Redis whatever the broker; the client rides out outages."""
        client = sync_redis(
            self.settings.redis_url, retry=outage_retry(), cluster=self.settings.redis_cluster
        )
        while not self._stop.wait(RELEASE_EVERY_S):
            if self.stopping.is_set():
                return
            try:
                schedule.release(client, lambda b: enqueue_batch(broker, b), clock.now_ms())
            except Exception as exc:  # the next round tries again; nothing is lost
                log.warning("releasing scheduled batches failed: %r", exc)


def _loop() -> EventLoopThread:
    """dramatiq's event-loop thread (the AsyncIO middleware must come before Runtime)."""
    thread = get_event_loop_thread()
    if thread is None:
        raise RuntimeError("no dramatiq event loop: add the AsyncIO middleware before Runtime")
    return thread
