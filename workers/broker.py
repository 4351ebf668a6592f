"""The dramatiq broker: Redis, orjson messages, AsyncIO, fast recovery of a dead worker's work.

Recovery: dramatiq's Redis broker requeues the unacked messages of a worker whose
heartbeat is older than `heartbeat_timeout`, during "maintenance", which runs on
a random `maintenance_chance` per million broker commands.  The defaults (60 s,
1,000 per million) can leave a killed worker's batches stuck for minutes; we use
5 s and 100,000 per million (one command in ten), so a SIGKILLed worker's batches
are back on the queue within seconds (SMS_HEARTBEAT_TIMEOUT_MS,
SMS_MAINTENANCE_CHANCE).  A busy worker whose threads are all in long sends would
not fetch, so not heartbeat: `workers.runtime` runs a heartbeat thread for that.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import orjson
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import Encoder
from dramatiq.middleware import AsyncIO

from config.settings import Settings
from dispatcher.errors import ConfigError

CAMPAIGN_QUEUE = "campaign"
TRANSACTIONAL_QUEUE = "transactional"
QUEUES = (TRANSACTIONAL_QUEUE, CAMPAIGN_QUEUE)
BROKER_NAMESPACE = "dramatiq"


class OrjsonEncoder(Encoder):
    """Message bodies as orjson: faster than json for 1,000-destination batches."""

    def encode(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes) -> dict[str, Any]:
        return orjson.loads(data)


def make_broker(settings: Settings) -> RedisBroker:
    """A RedisBroker on REDIS_URL with the AsyncIO middleware, set as dramatiq's global."""
    if not settings.redis_url:
        raise ConfigError("REDIS_URL", "not set: workers need the Redis URL the producer uses")
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=BROKER_NAMESPACE,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
    )
    broker.add_middleware(AsyncIO())
    dramatiq.set_encoder(OrjsonEncoder())
    dramatiq.set_broker(broker)
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


SEND_ACTOR = "send_batch"


def enqueue_batch(broker: dramatiq.Broker, batch_dict: dict[str, Any], delay_ms: int = 0) -> None:
    """Put one batch on its queue (transactional ones on their own), optionally delayed."""
    queue = TRANSACTIONAL_QUEUE if batch_dict.get("o") else CAMPAIGN_QUEUE
    message = dramatiq.Message(
        queue_name=queue, actor_name=SEND_ACTOR, args=(batch_dict,), kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms or None)
