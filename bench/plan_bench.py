"""`smsdispatch plan` on a big file: rows per second, the planner's RSS through the file
(flat: rows stream, counters are small) and Redis memory during and after (the duplicate
check's temporary keys, gone when the plan ends), on a Redis server of its own.

    python bench/plan_bench.py [--rows 1000000] [--repeat 3] [--rate 500/1s]

The file: Thai numbers with names, one in ten a Thai name (UCS-2), one in fifty long
enough for a second part, one row in a thousand a duplicate, one in five thousand a bad
number, one in a hundred a Czech number; 100 numbers on the opt-out list.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from config.settings import Settings
from core import optout
from core.limits.spec import Rate
from dispatcher import api
from dispatcher.stack import RedisServer

TEXT = "Hi {name}, your order is ready: collect it today. Reply STOP to opt out."
SAMPLE_S = 0.2


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("phone,name\n")
        for i in range(n):
            if i % 5000 == 4999:
                fh.write(f"12345,bad{i}\n")
                continue
            j = i - 1 if i % 1000 == 999 else i  # a duplicate of the row before
            phone = f"+420601{j % 1_000_000:06d}" if j % 100 == 7 else f"08{j % 10}{j:07d}"
            name = "สมศรี" if i % 10 == 3 else ("n" * 100 if i % 50 == 11 else f"Name{i}")
            fh.write(f"{phone},{name}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate", default="500/1s", help="SMS_RATE for the forecast")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        write_csv(path, args.rows)
        print(
            f"file: {args.rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB "
            f"(written in {time.perf_counter() - t0:.1f}s)"
        )
        server = RedisServer(Path(tmp) / "redis", aof=False).start()
        try:
            run(server.url, path, args)
        finally:
            server.stop()


def run(url: str, path: Path, args: argparse.Namespace) -> None:
    client = redis.Redis.from_url(url)
    optout.add(client, optout.entries_for([f"6681{i:07d}" for i in range(100)], "manual", "b"))
    limit = Rate.parse(args.rate, "SMS_RATE")
    s = Settings(redis_url=url, rate=Rate(limit.attempts, limit.window_ms))
    before = int(client.info("memory")["used_memory"])
    seconds = []
    for k in range(args.repeat):
        took, peak, rss, plan = once(client, path, s)
        seconds.append(took)
        after = int(client.info("memory")["used_memory"])
        print(
            f"run {k + 1}: {took:.1f}s = {plan.rows / took:,.0f} rows/s; "
            f"RSS MiB at each tenth: {' '.join(f'{v:.0f}' for v in rss)}; Redis +"
            f"{(peak - before) / 2**20:.0f} MiB at peak, +{(after - before) / 2**10:.0f}"
            " KiB after"
        )
    median = statistics.median(seconds)
    print(f"median {median:.1f}s = {plan.rows / median:,.0f} rows/s")
    print(
        f"plan: valid {plan.valid:,}, invalid {plan.invalid:,}, duplicates "
        f"{plan.duplicates:,}, opted out {plan.opted_out:,}; groups "
        f"{ {k: v.recipients for k, v in plan.groups.items()} }; UCS-2 rows "
        f"{plan.changed_encoding:,}, extra-part rows {plan.changed_parts:,}; cost {plan.cost}; "
        f"forecast {plan.forecast.seconds}s at {args.rate}"
    )


def once(client: redis.Redis, path: Path, s: Settings) -> tuple[float, int, list[float], Any]:
    """One plan: its seconds, Redis's peak used_memory, the RSS at each tenth, the plan."""
    rss: list[float] = []
    peak, done = [int(client.info("memory")["used_memory"])], threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_S):
            peak.append(int(client.info("memory")["used_memory"]))

    def progress(read: int, size: int) -> None:
        if read >= (len(rss) + 1) * size // 10:
            rss.append(rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    plan = api.plan_csv(path, text=TEXT, settings=s, progress=progress)
    took = time.perf_counter() - t0
    done.set()
    sampler.join()
    return took, max(peak), rss, plan


if __name__ == "__main__":
    main()
