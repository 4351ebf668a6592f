"""Prometheus metrics, opt-in with SMS_METRICS_PORT.

Workers: dramatiq's own `Prometheus` middleware (messages, errors, retries, durations;
multiprocess, served by the dramatiq master on SMS_METRICS_PORT) plus ours:

    sms_destinations_total{state}   destinations recorded by workers, by outcome state
    sms_deferrals_total{state,reason}  destinations put off (deferred by a limit, a window,
                                    throttling; retrying after a failure), by reason kind
    sms_batch_seconds               time to process one batch (send, decide, record)

The webhook serves its own counters on GET /metrics (`sms_reports_total{state}`,
`sms_reports_refused_total`).  prometheus_client is imported only when metrics are on,
and after dramatiq has set PROMETHEUS_MULTIPROC_DIR (it must be, for multiprocess mode).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from dramatiq import Broker

from core.outcomes import Event
from core.queues import DRAMATIQ_PORT_VAR

REASON_CHARS = 48
_DIGITS = re.compile(r"\d+")


def reason_kind(why: str) -> str:
    """A low-cardinality label from a reason text: before its first ':', digits as N."""
    return _DIGITS.sub("N", why.split(":", 1)[0].strip())[:REASON_CHARS] or "unknown"


BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Our worker metrics; every method is a no-op until `start()` ran."""

    def __init__(self) -> None:
        self._destinations: Any = None
        self._batch: Any = None
        self._deferrals: Any = None

    def start(self) -> None:
        import prometheus_client as prom

        self._destinations = prom.Counter(
            "sms_destinations_total", "Destinations recorded by workers, by state.", ["state"]
        )
        self._deferrals = prom.Counter(
            "sms_deferrals_total",
            "Destinations put off, by state and reason kind.",
            ["state", "reason"],
        )
        self._batch = prom.Histogram(
            "sms_batch_seconds", "Time to process one batch.", buckets=BATCH_BUCKETS
        )

    def recorded(self, events: Iterable[Event]) -> None:
        if self._destinations is None:
            return
        for state, n in Counter(ev.state.value for ev in events).items():
            self._destinations.labels(state=state).inc(n)

    def deferred(self, state: str, why: str, n: int) -> None:
        if self._deferrals is not None and n:
            self._deferrals.labels(state=state, reason=reason_kind(why)).inc(n)

    def batch_took(self, seconds: float) -> None:
        if self._batch is not None:
            self._batch.observe(seconds)


METRICS = Metrics()


def install(broker: Broker, port: int) -> None:
    """Add dramatiq's Prometheus middleware (workers write, the master serves on `port`)."""
    os.environ.setdefault(DRAMATIQ_PORT_VAR, str(port))
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
