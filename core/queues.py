"""The dramatiq broker: Redis, orjson messages, AsyncIO, fast recovery of a dead worker's work.

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
from typing import Any

import dramatiq
import orjson
import redis
import redis.asyncio.retry
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


class OrjsonEncoder(Encoder):
    """Message bodies as orjson: faster than json for 1,000-destination batches."""

    def encode(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes) -> dict[str, Any]:
        return orjson.loads(data)


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


def _check(redis_url: str) -> None:
    if not redis_url:
        raise ConfigError("REDIS_URL", "not set: workers need the Redis URL the producer uses")


def make_broker(redis_url: str, heartbeat_timeout_ms: int, maintenance_chance: int) -> RedisBroker:
    """The workers' RedisBroker on REDIS_URL with the AsyncIO middleware, set as dramatiq's
    global; its Redis commands ride through outages."""
    _check(redis_url)
    client = redis.Redis.from_url(redis_url, retry=outage_retry())
    broker = RedisBroker(
        client=client,
        namespace=BROKER_NAMESPACE,
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=maintenance_chance,
    )
    broker.add_middleware(AsyncIO())
    _declare(broker)
    return broker


def make_producer(redis_url: str) -> ProducerBroker:
    """A broker for producers: enqueue only, no heartbeat, fails fast if Redis is down."""
    _check(redis_url)
    broker = ProducerBroker(url=redis_url, namespace=BROKER_NAMESPACE)
    _declare(broker)
    return broker


def _declare(broker: RedisBroker) -> None:
    dramatiq.set_encoder(OrjsonEncoder())
    dramatiq.set_broker(broker)
    for queue in QUEUES:
        broker.declare_queue(queue)


def enqueue_batch(broker: dramatiq.Broker, batch_dict: dict[str, Any], delay_ms: int = 0) -> None:
    """Put one batch on its queue (transactional ones on their own), optionally delayed."""
    transactional = bool(batch_dict.get("o"))
    queue = TRANSACTIONAL_QUEUE if transactional else CAMPAIGN_QUEUE
    actor = TRANSACTIONAL_ACTOR if transactional else SEND_ACTOR
    message = dramatiq.Message(
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
