"""Export speed and memory: `python bench/export_bench.py [--messages 200000] [--other 1000000]`.

Fills REDIS_URL (default redis://127.0.0.1:6379/13, FLUSHED first) with a campaign of
--messages accepted messages (as the workers record them, `core.outcomes.record`) and
--other unrelated keys (another tenant's data: what a keyspace SCAN would have to walk),
then times `smsdispatch export`'s code writing the CSV to /dev/null, and prints rows/s
and how much this process's peak RSS grew meanwhile (flat: rows stream out as read).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import redis

from core import keys
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports.export import export

DEFAULT_URL = "redis://127.0.0.1:6379/13"
CAMPAIGN = "exp"
CHUNK = 2000


def fill(r: redis.Redis, n: int, other: int) -> None:
    policy = StreamPolicy(maxlen=1000, final_ttl=86_400)
    r.hset(keys.campaign_meta(CAMPAIGN), mapping={"last_line": n + 1, "text": "Hi"})
    for start in range(2, n + 2, CHUNK):
        events = [
            Event(
                f"{CAMPAIGN}-{i}",
                CAMPAIGN,
                State.ACCEPTED,
                f"{CAMPAIGN}-b0",
                f"66812{i:06d}",
                1,
                "1",
                "26",
                expires_at=2**41,
            )
            for i in range(start, min(start + CHUNK, n + 2))
        ]
        record(r, events, policy)
    pipe = r.pipeline(transaction=False)
    for i in range(other):
        pipe.set(f"tenant:{i}", "x")
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--other", type=int, default=1_000_000)
    a = p.parse_args()
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", DEFAULT_URL))
    r.flushdb()
    fill(r, a.messages, a.other)
    print(f"{a.messages:,} messages among {r.dbsize():,} keys")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as fh:
        rows = export(r, CAMPAIGN, fh)
    took = time.perf_counter() - started
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(
        f"export: {rows:,} rows in {took:.2f} s = {rows / took:,.0f} rows/s; "
        f"peak RSS grew {grew / 1024:.1f} MiB"
    )
    r.flushdb()


if __name__ == "__main__":
    main()
