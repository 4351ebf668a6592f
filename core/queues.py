"""The dramatiq broker: Redis or RabbitMQ, orjson messages, AsyncIO, fast recovery of a dead
worker's work.

Which broker: `SMS_BROKER_URL` (amqp://... for RabbitMQ, redis://... for a Redis of its
own), else the Redis of REDIS_URL.  Only the queues move: every state, limit and
stream stays in REDIS_URL's Redis.  With RabbitMQ a dead worker's unacked messages
go back on their queue as soon as its connection drops (no heartbeat roll), and
producers publish with confirms, so an enqueue that returned is on the broker.

Recovery: dramatiq's Redis broker requeues the unacked messages of a worker whose
heartbeat is older than `heartbeat_timeout`, during "maintenance", which runs on
a random `maintenance_chance` per million broker commands.  The defaults (60 s,
1,000 per million) can leave a killed worker's batches stuck for minutes; we use
5 s and 100,000 per million (one command in ten), so a SIGKILLed worker's batches
are back on the queue within seconds (SMS_HEARTBEAT_TIMEOUT_MS,
SMS_MAINTENANCE_CHANCE).  A busy worker whose threads are all in long sends would
not fetch, so not heartbeat: `workers.runtime` runs a heartbeat thread for that.

Producers are not workers: every command of dramatiq's own dispatch script
records the caller's heartbeat, so a producer (CLI import, the Python API, the
webhook's resender) would show up as a worker, be found "dead" seconds later, and
cost a `KEYS` over the whole keyspace in the next maintenance run, again after
every quiet spell.  `make_producer` returns a broker whose enqueue writes the two
keys dramatiq's enqueue writes (the message hash and the queue list) and nothing
else.

Redis outages: a worker's broker retries every Redis command until Redis answers
(`outage_retry`), so a Redis restart never makes dramatiq drop the delayed
messages it holds in memory (it does so on a connection error) or lose a retry.

Queues: `transactional` (send_sms, its own actor with a higher priority, so a
transactional batch prefetched behind campaign batches is taken first) and
`campaign`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import dramatiq
import orjson
import redis
import redis.asyncio.retry
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import Encoder
from dramatiq.middleware import AsyncIO
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from core.errors import ConfigError

log = logging.getLogger(__name__)

CAMPAIGN_QUEUE = "campaign"
TRANSACTIONAL_QUEUE = "transactional"
QUEUES = (TRANSACTIONAL_QUEUE, CAMPAIGN_QUEUE)
BROKER_NAMESPACE = "dramatiq"
SEND_ACTOR = "send_batch"
TRANSACTIONAL_ACTOR = "send_transactional"
OUTAGE_BACKOFF_BASE_S = 0.05
OUTAGE_BACKOFF_CAP_S = 2.0
OUTAGE_LOG_EVERY = 25  # failures between two "still unreachable" warnings (~50 s)
AMQP_SCHEMES = ("amqp://", "amqps://")


class OrjsonEncoder(Encoder):
    """Message bodies as orjson: faster than json for 1,000-destination batches."""

    def encode(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(data)
        return body


class _OutageBackoff(ExponentialWithJitterBackoff):
    """redis-py's jittered backoff, saying so in the log while Redis stays unreachable."""

    def compute(self, failures: int) -> float:
        if failures == 1 or failures % OUTAGE_LOG_EVERY == 0:
            log.warning("Redis unreachable (%d tries so far): waiting for it", failures)
        return super().compute(failures)


def outage_retry() -> Retry:
    """Retry a sync Redis command on connection errors and timeouts until Redis answers."""
    return Retry(_OutageBackoff(cap=OUTAGE_BACKOFF_CAP_S, base=OUTAGE_BACKOFF_BASE_S), -1)


def async_outage_retry() -> redis.asyncio.retry.Retry:
    """`outage_retry` for redis.asyncio clients."""
    backoff = _OutageBackoff(cap=OUTAGE_BACKOFF_CAP_S, base=OUTAGE_BACKOFF_BASE_S)
    return redis.asyncio.retry.Retry(backoff, -1)


class ProducerBroker(RedisBroker):
    """A RedisBroker that only enqueues, without looking like a worker (module docstring)."""

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        key = f"{self.namespace}:{queue_name}"
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(f"{key}.msgs", message_id, data)
        pipe.rpush(key, message_id)
        pipe.execute()


def _url(broker_url: str, redis_url: str) -> str:
    if not (broker_url or redis_url):
        raise ConfigError("REDIS_URL", "not set: workers need the Redis URL the producer uses")
    return broker_url or redis_url


def is_amqp(url: str) -> bool:
    return url.startswith(AMQP_SCHEMES)


def make_broker(
    broker_url: str, redis_url: str, heartbeat_timeout_ms: int, maintenance_chance: int
) -> dramatiq.Broker:
    """The workers' broker (SMS_BROKER_URL, else REDIS_URL) with the AsyncIO middleware, set
    as dramatiq's global; a Redis broker's commands ride through outages."""
    url = _url(broker_url, redis_url)
    broker: dramatiq.Broker
    if is_amqp(url):
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    else:
        broker = RedisBroker(
            client=redis.Redis.from_url(url, retry=outage_retry()),
            namespace=BROKER_NAMESPACE,
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
    broker.add_middleware(AsyncIO())
    _declare(broker)
    return broker


def make_producer(broker_url: str, redis_url: str) -> dramatiq.Broker:
    """A broker for producers: enqueue only (no heartbeat on Redis), fails fast if the broker
    is down; on RabbitMQ each publish waits for the broker's confirm."""
    url = _url(broker_url, redis_url)
    broker: dramatiq.Broker
    if is_amqp(url):
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    else:
        broker = ProducerBroker(url=url, namespace=BROKER_NAMESPACE)
    _declare(broker)
    return broker


def queue_depths(broker: dramatiq.Broker) -> dict[str, tuple[int, int]]:
    """Batches on each queue: (ready, delayed), read from the broker in use."""
    out = {}
    for q in QUEUES:
        if isinstance(broker, RabbitmqBroker):
            ready, delayed, _dead = broker.get_queue_message_counts(q)
        else:
            redis_broker = cast(RedisBroker, broker)  # the only other kind make_broker builds
            client, ns = redis_broker.client, redis_broker.namespace
            ready, delayed = client.llen(f"{ns}:{q}"), client.hlen(f"{ns}:{q}.DQ.msgs")
        out[q] = (int(ready), int(delayed))
    return out


def beats(broker: dramatiq.Broker) -> bool:
    """Whether the broker needs the workers' own heartbeat (Redis: see the module docstring)."""
    return isinstance(broker, RedisBroker)


def served(broker: dramatiq.Broker) -> bool:
    """Whether the broker is one the product runs on (not an in-memory test broker)."""
    return isinstance(broker, (RedisBroker, RabbitmqBroker))


def _declare(broker: dramatiq.Broker) -> None:
    dramatiq.set_encoder(OrjsonEncoder())
    dramatiq.set_broker(broker)
    for queue in QUEUES:
        broker.declare_queue(queue)


def enqueue_batch(broker: dramatiq.Broker, batch_dict: dict[str, Any], delay_ms: int = 0) -> None:
    """Put one batch on its queue (transactional ones on their own), optionally delayed."""
    transactional = bool(batch_dict.get("o"))
    queue = TRANSACTIONAL_QUEUE if transactional else CAMPAIGN_QUEUE
    actor = TRANSACTIONAL_ACTOR if transactional else SEND_ACTOR
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(batch_dict,), kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms or None)


DRAMATIQ_PORT_VAR = "dramatiq_prom_port"  # read by dramatiq's exposition server


def dramatiq_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for a `dramatiq` command line: dramatiq's master process serves the
    metrics and never imports our modules, so SMS_METRICS_PORT must reach it as its own
    variable before it starts (`smsdispatch worker` and `Stack.workers` do this)."""
    port = env.get("SMS_METRICS_PORT", "").strip()
    return {**env, DRAMATIQ_PORT_VAR: port} if port and port != "0" else dict(env)
