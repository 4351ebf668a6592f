"""Limiter decisions per second against a real Redis, batched 1,000 destinations per call.

    REDIS_URL=redis://127.0.0.1:6379/13 PYTHONPATH=. python bench/limiter_bench.py

Prints, for GCRA throughput (costs 1-3 parts) and for the anti-flooding windows
(one log per number: core/limits/flooding.lua), the median of several runs of decisions per
second and of milliseconds per 1,000-item call.  Keys go under the `bench:`
prefix (unless SMS_KEY_PREFIX is set) and are deleted at the end.
"""

from __future__ import annotations

import os

os.environ.setdefault("SMS_KEY_PREFIX", "bench:")

import random
import statistics
import time
from collections.abc import Callable

import redis

from core import keys
from core.limits import Limiter, Rate
from providers.ants import PROFILE as ANTS

ANTS_FLOODING = (ANTS.flood_varied, ANTS.flood_identical)

DEFAULT_URL = "redis://127.0.0.1:6379/13"
BATCH = 1_000
CALLS_PER_RUN = 20
RUNS = 7
NUMBERS = 50_000  # distinct recipients the flooding batches draw from
TEXTS = [f"Promotion {i}: 20% off this week only" for i in range(5)]


def measure(call: Callable[[], object]) -> tuple[float, float]:
    """(decisions per second, ms per call) over one run of CALLS_PER_RUN calls."""
    started = time.perf_counter()
    for _ in range(CALLS_PER_RUN):
        call()
    elapsed = time.perf_counter() - started
    return CALLS_PER_RUN * BATCH / elapsed, elapsed * 1000 / CALLS_PER_RUN


def report(name: str, call: Callable[[], object]) -> None:
    call()  # warm up: loads the script
    runs = [measure(call) for _ in range(RUNS)]
    rates = [rate for rate, _ in runs]
    per_call = statistics.median(ms for _, ms in runs)
    print(
        f"{name:<34} median {statistics.median(rates):>10,.0f} decisions/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}; {per_call:.1f} ms per {BATCH:,})"
    )


def cleanup(client: redis.Redis) -> None:
    for key in client.scan_iter(match=f"{keys.PREFIX}*", count=1_000):
        client.unlink(key)


def main() -> None:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", DEFAULT_URL))
    limiter = Limiter(client)
    rng = random.Random(7)
    costs = [rng.randint(1, 3) for _ in range(BATCH)]
    rate = Rate.parse("200/1s")

    def gcra() -> object:
        return limiter.throughput("bench-account", rate, 100, costs)

    batches = iter(
        [
            [(f"668{rng.randrange(NUMBERS):08d}", rng.choice(TEXTS)) for _ in range(BATCH)]
            for _ in range(1 + RUNS * CALLS_PER_RUN)
        ]
    )

    def flooding() -> object:
        return limiter.flooding(next(batches), *ANTS_FLOODING)

    print(
        f"Redis {client.info('server')['redis_version']}, key prefix {keys.PREFIX!r}, "
        f"{RUNS} runs x {CALLS_PER_RUN} calls x {BATCH:,} items"
    )
    try:
        report("GCRA throughput (200/1s, burst 100)", gcra)
        report("flooding (20/1h varied + 6/1h same)", flooding)
    finally:
        cleanup(client)


if __name__ == "__main__":
    main()
