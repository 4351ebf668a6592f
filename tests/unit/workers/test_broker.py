"""Producers enqueue like dramatiq does, without ever looking like a worker."""

from __future__ import annotations

import redis

from config.settings import Settings
from core.queues import (
    CAMPAIGN_QUEUE,
    SEND_ACTOR,
    TRANSACTIONAL_ACTOR,
    TRANSACTIONAL_QUEUE,
    enqueue_batch,
    make_broker,
    make_producer,
)

HEARTBEATS = "dramatiq:__heartbeats__"


def test_a_producer_leaves_no_heartbeat_and_its_messages_reach_workers(
    r: redis.Redis, redis_url: str
) -> None:
    settings = Settings(redis_url=redis_url)
    producer = make_producer("", redis_url)
    enqueue_batch(producer, {"c": "c", "d": [["c-1", "66812345678", None]]})
    enqueue_batch(producer, {"c": "api", "o": 1, "d": []}, delay_ms=5_000)
    assert r.zcard(HEARTBEATS) == 0  # dramatiq's maintenance would take it for a dead worker

    worker = make_broker("", redis_url, settings.heartbeat_timeout_ms, settings.maintenance_chance)
    consumer = worker.consume(CAMPAIGN_QUEUE, prefetch=10, timeout=100)
    message = next(consumer)
    assert message is not None and message.actor_name == SEND_ACTOR
    assert message.args[0]["d"] == [["c-1", "66812345678", None]]
    delayed = next(worker.consume(f"{TRANSACTIONAL_QUEUE}.DQ", prefetch=10, timeout=100))
    assert delayed is not None and delayed.actor_name == TRANSACTIONAL_ACTOR
    assert "eta" in delayed.options
    assert r.zcard(HEARTBEATS) == 1  # the worker's own, as it should be
