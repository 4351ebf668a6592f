"""The CSV import alone: parse, validate and normalise, dedupe, batch, enqueue (no workers).

    python bench/import_bench.py [--rows 200000] [--runs 3]

Imports the same generated file (Thai national numbers, a name column) as a fresh campaign
per run, once with a personalised text (`Hi {name}`: rendered and checked per row) and once
with one shared text, and prints rows/s per run and the median.  REDIS_URL defaults to
redis://127.0.0.1:6379/13, which is FLUSHED first (the batches pile up on the queue).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import redis

from config.settings import Settings
from dispatcher import api

DEFAULT_URL = "redis://127.0.0.1:6379/13"
TEXTS = {"personalised": "Hi {name}, your offer is ready", "shared": "Your offer is ready"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    url = os.environ.get("REDIS_URL", DEFAULT_URL)
    client = redis.Redis.from_url(url)
    settings = Settings(redis_url=url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("phone,name\n")
            for i in range(args.rows):
                fh.write(f"08{i % 10}{i % 10_000_000:07d},n{i}\n")
        for kind, text in TEXTS.items():
            rates = []
            for run in range(args.runs):
                client.flushdb()
                rejects = Path(tmp) / "rejects.csv"
                report = api.import_csv(
                    path, campaign=f"{kind}-{run}", text=text, settings=settings, rejects=rejects
                )
                rates.append(report.rows / report.seconds)
            shown = " / ".join(f"{r:,.0f}" for r in rates)
            print(
                f"{kind:>12}: median {statistics.median(rates):,.0f} rows/s ({shown}; "
                f"{args.rows:,} rows)"
            )
    client.flushdb()


if __name__ == "__main__":
    main()
