"""`GET /metrics` of the API server: what Redis holds, read at each scrape.

    sms_queue_depth{queue, kind}          batches on dramatiq's queues: ready | delayed
    sms_scheduled_batches                 batches waiting in Redis (send-at, windows, long waits)
    sms_provider_down{provider}           1 while failover passes a provider over
    sms_campaign_messages{campaign,state} the newest campaigns' messages by state
    sms_dlr_latency_seconds               delivery-report latency (histogram, those campaigns)

The workers serve their own (`workers.metrics`: destinations by state, deferrals by
reason, batch time) on SMS_METRICS_PORT; the webhook serves report counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from core import keys
from core.queues import queue_depths
from core.replies import members, text
from dispatcher.api import producer
from dispatcher.http.board import newest
from dispatcher.http.state import CLIENT, SETTINGS, call, scoped
from dispatcher.reports import latency
from providers import registry

REGISTRY = web.AppKey("registry", CollectorRegistry)


class RedisCollector:
    def __init__(self, client: redis.Redis, broker: dramatiq.Broker) -> None:
        self.client = client
        self.broker = broker

    def collect(self) -> Iterator[Any]:
        r = self.client
        depth = GaugeMetricFamily(
            "sms_queue_depth", "Batches on the queues.", labels=["queue", "kind"]
        )
        for q, (ready, delayed) in queue_depths(self.broker).items():
            depth.add_metric([q, "ready"], ready)
            depth.add_metric([q, "delayed"], delayed)
        yield depth
        yield GaugeMetricFamily(
            "sms_scheduled_batches", "Batches waiting in Redis.", value=self._scheduled()
        )
        down = GaugeMetricFamily(
            "sms_provider_down", "1: failover passes it over.", labels=["provider"]
        )
        for p in registry.names():
            down.add_metric([p], int(bool(r.exists(keys.health(p, "down")))))
        yield down
        yield from self._campaigns()

    def _scheduled(self) -> int:
        campaigns = members(self.client.zrange(keys.SCHEDULE, 0, -1))
        return sum(self.client.zcard(keys.campaign_scheduled(c)) for c in campaigns)

    def _campaigns(self) -> Iterator[Any]:
        msgs = GaugeMetricFamily(
            "sms_campaign_messages", "Messages by state.", labels=["campaign", "state"]
        )
        buckets = dict.fromkeys([*map(str, latency.BUCKETS_S), latency.INF], 0.0)
        total = 0.0
        for c in newest(self.client):
            for state, count in self.client.hgetall(keys.campaign_counts(c)).items():
                msgs.add_metric([c, text(state)], int(count))
            for k, v in self.client.hgetall(keys.campaign_dlr(c)).items():
                name = text(k)
                if name in buckets:
                    buckets[name] += float(v)
                elif name == "sum":
                    total += float(v)
        yield msgs
        cumulative, run = [], 0.0
        for le, n in buckets.items():
            run += n
            cumulative.append((le, run))
        yield HistogramMetricFamily(
            "sms_dlr_latency_seconds",
            "Delivery-report latency.",
            buckets=cumulative,
            sum_value=total,
        )


def routes(app: web.Application) -> None:
    reg = CollectorRegistry()
    reg.register(RedisCollector(app[CLIENT], producer(app[SETTINGS])))
    app[REGISTRY] = reg
    app.router.add_get("/metrics", serve)


@scoped("read")  # campaign names are not for everyone: Prometheus sends a read key
async def serve(request: web.Request) -> web.Response:
    body = await call(generate_latest, request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
