"""An idle worker fetches a transactional batch on the producer's nudge, not after its poll
(issue 24); idle campaign consumers keep dramatiq's poll; a worker that also serves campaigns
leaves a nudged batch to a dedicated one first (core.queues)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import _RedisConsumer

from config.settings import Settings
from core.queues import (
    CAMPAIGN_QUEUE,
    SHARED_PICKUP_DELAY_MS,
    TRANSACTIONAL_QUEUE,
    NudgedConsumer,
    QueuesServed,
    WorkerBroker,
    enqueue_batch,
    make_broker,
    make_producer,
    nudge_channel,
)

HEARTBEATS = "dramatiq:__heartbeats__"
IDLE_TIMEOUT_MS = 60_000  # an unnudged consumer at its ceiling sleeps 30-60 s
AT_CEILING = 20  # empty polls: 5 ms x 2^20 is far past any idle timeout
PICKED_UP_S = 10.0  # a third of the shortest unnudged sleep: no race with a slow machine


def worker_broker(redis_url: str) -> WorkerBroker:
    settings = Settings(redis_url=redis_url)
    broker = make_broker("", redis_url, settings.heartbeat_timeout_ms, settings.maintenance_chance)
    assert isinstance(broker, WorkerBroker)
    return broker


@pytest.fixture
def broker(r: redis.Redis, redis_url: str) -> Iterator[WorkerBroker]:
    made = worker_broker(redis_url)
    yield made
    made.close()


def producers(redis_url: str, worker: dramatiq.Broker) -> dict[str, Callable[[], None]]:
    batch = {"c": "api", "o": 1, "d": [["api~1", "66812345678", "Your code is 1234"]]}
    return {
        "producer": lambda: enqueue_batch(make_producer("", redis_url), batch),
        "worker": lambda: enqueue_batch(worker, batch),  # a follow-up, a delayed batch due
    }


@pytest.mark.parametrize("enqueuer", ["producer", "worker"])
def test_an_idle_transactional_consumer_fetches_on_the_nudge(
    r: redis.Redis, redis_url: str, broker: WorkerBroker, enqueuer: str
) -> None:
    consumer = broker.consume(TRANSACTIONAL_QUEUE, prefetch=8, timeout=IDLE_TIMEOUT_MS)
    consumer.misses = consumer.idle_misses = AT_CEILING  # idle for long: dramatiq's and ours
    got: list[Any] = []
    picked = threading.Event()

    def consume() -> None:  # what dramatiq's consumer thread does
        for message in consumer:
            if message is not None:
                got.append(message)
                picked.set()
                return

    threading.Thread(target=consume, daemon=True).start()
    while r.zcard(HEARTBEATS) == 0:  # its first fetch ran (it found nothing): now it waits
        threading.Event().wait(0.001)
    producers(redis_url, broker)[enqueuer]()
    assert picked.wait(PICKED_UP_S), "still asleep: the poll, not the nudge, would find it"
    assert got[0].args[0]["d"][0][0] == "api~1"
    consumer.close()


def test_idle_campaign_consumers_keep_dramatiqs_poll(broker: WorkerBroker) -> None:
    """No consumer but the transactional one listens for nudges: idle campaign workers
    wait as dramatiq makes them (its idle timeout), never spin on Redis."""
    campaign = broker.consume(CAMPAIGN_QUEUE, prefetch=16, timeout=1_000)
    delayed = broker.consume(f"{TRANSACTIONAL_QUEUE}.DQ", prefetch=16, timeout=1_000)
    for plain in (campaign, delayed):
        assert type(plain) is _RedisConsumer and plain.timeout == 1_000
    nudged = broker.consume(TRANSACTIONAL_QUEUE, prefetch=16, timeout=1_000)
    assert isinstance(nudged, NudgedConsumer)
    assert nudged.idle_timeout_ms == 1_000  # its wait without a nudge: dramatiq's
    nudged.close()


@pytest.mark.parametrize(
    ("queues", "delay_ms"),
    [
        (None, SHARED_PICKUP_DELAY_MS),  # `smsdispatch worker`: both queues
        ([CAMPAIGN_QUEUE, TRANSACTIONAL_QUEUE], SHARED_PICKUP_DELAY_MS),  # Procfile `worker`
        ([TRANSACTIONAL_QUEUE], 0),  # Procfile `otp`
    ],
)
def test_a_worker_that_also_sends_campaigns_leaves_a_nudged_batch_to_a_dedicated_one(
    broker: WorkerBroker, queues: list[str] | None, delay_ms: int
) -> None:
    worker = SimpleNamespace(consumer_whitelist=queues and set(queues))  # as dramatiq sets it
    QueuesServed().before_worker_boot(broker, worker)
    consumer = broker.consume(TRANSACTIONAL_QUEUE, prefetch=8, timeout=1_000)
    assert isinstance(consumer, NudgedConsumer) and consumer.pickup_delay_ms == delay_ms
    consumer.close()


@pytest.mark.parametrize(("in_hand", "slept"), [(0, []), (1, [SHARED_PICKUP_DELAY_MS / 1000])])
def test_a_shared_worker_defers_a_nudged_batch_only_while_it_has_batches_in_hand(
    r: redis.Redis,
    broker: WorkerBroker,
    monkeypatch: pytest.MonkeyPatch,
    in_hand: int,
    slept: list[float],
) -> None:
    """An idle `smsdispatch worker` (both queues, no `otp` process) fetches at once; one
    busy with campaign batches leaves the batch to a dedicated worker for a moment."""
    consumer = broker.consume(TRANSACTIONAL_QUEUE, prefetch=8, timeout=IDLE_TIMEOUT_MS)
    assert isinstance(consumer, NudgedConsumer)
    sleeps: list[float] = []
    monkeypatch.setattr("core.queues.time.sleep", sleeps.append)
    broker.in_hand = in_hand
    r.publish(nudge_channel(), b"")  # a nudge waiting: no idle wait at all
    assert next(consumer) is None  # it fetched (nothing there), then took the nudge
    assert [s for s in sleeps if s] == slept  # dramatiq's own is 0 s: the wait is ours
    consumer.close()


@pytest.mark.parametrize("kind", ["redis", "any broker"])
def test_the_worker_counts_the_messages_in_hand(broker: WorkerBroker, kind: str) -> None:
    """On the Redis broker, and on any other (RabbitMQ's: a missing count failed every
    message there)."""
    served = next(m for m in broker.middleware if isinstance(m, QueuesServed))
    if kind == "any broker":
        broker = SimpleNamespace()  # type: ignore[assignment]
    served.before_worker_boot(broker, SimpleNamespace(consumer_whitelist=None))
    message: Any = SimpleNamespace()
    served.before_process_message(broker, message)
    served.before_process_message(broker, message)
    assert broker.in_hand == 2
    served.after_process_message(broker, message, exception=RuntimeError("failed"))
    served.after_skip_message(broker, message)
    assert broker.in_hand == 0
