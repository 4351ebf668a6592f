"""On RabbitMQ, a worker that serves only `transactional` (the Procfile's `otp`) gets the
transactional batches first: its consumer has a higher consumer priority, so RabbitMQ
pushes to it while it has room, not round-robin to workers busy with campaigns (issue 24).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.queues import (
    TRANSACTIONAL_QUEUE,
    PrioritizedConsumer,
    WorkerRabbitmqBroker,
    enqueue_batch,
    make_producer,
)
from tests.integration.test_rabbitmq import amqp_url  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
IDLE_MS = 300  # a consumer's wait for a push before it answers None
BATCHES = 3


@pytest.fixture
def brokers(amqp_url: str) -> Iterator[tuple[WorkerRabbitmqBroker, WorkerRabbitmqBroker]]:  # noqa: F811
    dedicated, shared = WorkerRabbitmqBroker(url=amqp_url), WorkerRabbitmqBroker(url=amqp_url)
    dedicated.dedicated = True
    yield dedicated, shared
    dedicated.close()
    shared.close()


def drain(consumer: Any) -> list[Any]:
    got = []
    while (message := next(consumer)) is not None:
        got.append(message)
        consumer.ack(message)
    return got


def test_the_dedicated_worker_gets_the_transactional_batches_first(
    amqp_url: str,  # noqa: F811
    brokers: tuple[WorkerRabbitmqBroker, WorkerRabbitmqBroker],
) -> None:
    dedicated, shared = brokers
    first = dedicated.consume(TRANSACTIONAL_QUEUE, prefetch=8, timeout=IDLE_MS)
    second = shared.consume(TRANSACTIONAL_QUEUE, prefetch=8, timeout=IDLE_MS)
    assert isinstance(first, PrioritizedConsumer) and not isinstance(second, PrioritizedConsumer)
    assert next(first) is None and next(second) is None  # both subscribed, with room
    producer = make_producer(amqp_url, "")
    for i in range(BATCHES):
        enqueue_batch(producer, {"c": "api", "o": 1, "d": [[f"api~{i}", "66812345678", "x"]]})
    producer.close()
    assert drain(second) == []  # round-robin would have given it every other one
    assert len(drain(first)) == BATCHES
    first.close()
    second.close()
