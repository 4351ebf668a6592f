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

Picking up a transactional batch at once (issue 24): dramatiq's Redis consumer polls an
empty queue with a growing sleep, up to its idle timeout (`dramatiq_worker_timeout`,
1 s), so an idle worker saw a new OTP only 0.5-1 s later.  Every enqueue on
`transactional` (producer or worker) also PUBLISHes on `nudge_channel`, and that queue's
consumers (`NudgedConsumer`) wait for a nudge on a subscribed connection instead of
sleeping: an idle one fetches within milliseconds, and idle campaign consumers poll as
before, so no idle worker spins on Redis.  A nudge lost (an outage, a consumer starting)
costs only the old wait: the poll is still there.  A worker that also serves `campaign`
gives a nudged batch `SHARED_PICKUP_DELAY_MS` to a worker serving only `transactional`
(the Procfile's `otp`) before it fetches while it has batches in hand: its threads and
event loop are busy with campaign batches (up to the gateway's latency before a thread
is free, then a loop shared with them), where a dedicated worker sends at once; an idle
one fetches at once.  On RabbitMQ, which pushes, a dedicated worker's transactional
consumer has a higher consumer priority (`DEDICATED_CONSUMER_PRIORITY`) for the same
reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import dramatiq
import orjson
import redis
import redis.asyncio.retry
from dramatiq.broker import MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.encoder import Encoder
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import AsyncIO, Middleware
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
# a worker that also serves campaigns leaves a nudged transactional batch this long to a
# worker that serves only transactional ones (module docstring)
SHARED_PICKUP_DELAY_MS = 50
DEDICATED_CONSUMER_PRIORITY = 10  # RabbitMQ's x-priority; other consumers have 0


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


def nudge_channel(namespace: str = BROKER_NAMESPACE) -> str:
    """The pub/sub channel an enqueue on `transactional` publishes on (module docstring)."""
    return f"{namespace}:{TRANSACTIONAL_QUEUE}.nudge"


class ProducerBroker(RedisBroker):
    """A RedisBroker that only enqueues, without looking like a worker (module docstring);
    an enqueue on `transactional` nudges that queue's consumers."""

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        key = f"{self.namespace}:{queue_name}"
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(f"{key}.msgs", message_id, data)
        pipe.rpush(key, message_id)
        if queue_name == TRANSACTIONAL_QUEUE:
            pipe.publish(nudge_channel(self.namespace), b"")
        pipe.execute()


class NudgedConsumer(_RedisConsumer):
    """dramatiq's Redis consumer, waiting for a nudge (or its idle timeout) where dramatiq
    sleeps: the same growing wait up to `timeout` ms, cut short by a PUBLISH on
    `nudge_channel`.  `pickup_delay_ms`: how long after a nudge it waits before fetching
    while its worker has messages in hand (one that also serves campaigns:
    SHARED_PICKUP_DELAY_MS)."""

    def __init__(
        self,
        broker: RedisBroker,
        queue_name: str,
        prefetch: int,
        timeout: int,
        pickup_delay_ms: int = 0,
    ) -> None:
        super().__init__(broker, queue_name, prefetch, 0)  # type: ignore[no-untyped-call]
        # dramatiq's own sleep is 0 ms (its backoff capped at 0): the wait is ours
        self.idle_timeout_ms = timeout
        self.pickup_delay_ms = pickup_delay_ms
        self.idle_misses = 0
        self.nudges = broker.client.pubsub(ignore_subscribe_messages=True)
        self.nudges.subscribe(nudge_channel(broker.namespace))

    def __next__(self) -> Any:
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is not None:  # dramatiq's: a fetch when its cache is empty, never a sleep
            self.idle_misses = 0
            return message
        self.idle_misses, wait_ms = compute_backoff(
            self.idle_misses, max_backoff=self.idle_timeout_ms
        )
        if self.wait(wait_ms / 1000) and self.pickup_delay_ms and self.broker.in_hand:
            time.sleep(self.pickup_delay_ms / 1000)
        return None

    def wait(self, seconds: float) -> bool:
        """Until a nudge comes or `seconds` pass; whether one came (all waiting are taken)."""
        try:
            nudged = self.nudges.get_message(timeout=seconds) is not None
            while self.nudges.get_message() is not None:
                nudged = True
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
        return nudged

    def close(self) -> None:
        self.nudges.close()
        super().close()


class WorkerBroker(RedisBroker):
    """The workers' Redis broker: its `transactional` consumers are `NudgedConsumer`s and
    its enqueues on `transactional` (follow-ups, delayed batches falling due) nudge them.
    `dedicated`, `in_hand`: set by `QueuesServed`."""

    dedicated = False
    in_hand = 0  # messages this worker process is running

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        if queue_name != TRANSACTIONAL_QUEUE:
            return super().consume(queue_name, prefetch, timeout)
        delay = 0 if self.dedicated else SHARED_PICKUP_DELAY_MS
        return NudgedConsumer(self, queue_name, prefetch, timeout, delay)

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        self._dispatch("enqueue")(queue_name, message_id, data)
        if queue_name == TRANSACTIONAL_QUEUE:
            self.client.publish(nudge_channel(self.namespace), b"")


class PrioritizedConsumer(_RabbitmqConsumer):
    """dramatiq's RabbitMQ consumer with a consumer priority: RabbitMQ delivers to the
    highest-priority consumer with room in its prefetch, to the others only after."""

    def __init__(
        self, broker: RabbitmqBroker, queue_name: str, prefetch: int, timeout: int, priority: int
    ) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        # pika's consume is a generator: dramatiq's (without arguments) never started
        arguments = {"x-priority": priority}
        self.iterator = self.channel.consume(
            queue_name, inactivity_timeout=timeout / 1000, arguments=arguments
        )


class WorkerRabbitmqBroker(RabbitmqBroker):
    """The workers' RabbitMQ broker: a dedicated worker's `transactional` consumer comes
    first (`PrioritizedConsumer`).  `dedicated`, `in_hand`: set by `QueuesServed`."""

    dedicated = False
    in_hand = 0  # messages this worker process is running

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        if queue_name != TRANSACTIONAL_QUEUE or not self.dedicated:
            return super().consume(queue_name, prefetch, timeout)
        self.declare_queue(queue_name, ensure=True)
        return PrioritizedConsumer(self, queue_name, prefetch, timeout, DEDICATED_CONSUMER_PRIORITY)


class QueuesServed(Middleware):
    """On the broker, for its consumers: whether the worker serves only `transactional`
    (dramatiq's `-Q transactional`: `dedicated`, set before the consumers start) and how many
    messages its threads have in hand (`in_hand`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def before_worker_boot(self, broker: Any, worker: dramatiq.Worker) -> None:
        served = worker.consumer_whitelist or set()
        broker.dedicated = served == {TRANSACTIONAL_QUEUE}
        broker.in_hand = 0

    def before_process_message(self, broker: Any, message: MessageProxy) -> None:
        with self.lock:
            broker.in_hand += 1

    def after_process_message(
        self,
        broker: Any,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        with self.lock:
            broker.in_hand -= 1

    def after_skip_message(self, broker: Any, message: MessageProxy) -> None:
        with self.lock:
            broker.in_hand -= 1


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
        broker = WorkerRabbitmqBroker(url=url, confirm_delivery=True)
    else:
        broker = WorkerBroker(
            client=redis.Redis.from_url(url, retry=outage_retry()),
            namespace=BROKER_NAMESPACE,
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(QueuesServed())
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
