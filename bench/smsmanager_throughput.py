"""Personalised SmsManager throughput: real workers, the SmsManager sandbox at 200 ms latency.

    REDIS_URL=redis://127.0.0.1:6379/10 PYTHONPATH=. python bench/smsmanager_throughput.py
        [--recipients 3000] [--latency-ms 200] [--runs 3] [--processes 2] [--threads 8]
        [--provider smsmanager|smsc]

Imports `--recipients` rows with a personalised text ("Hi {name}": every message its own
text) for SmsManager and times them from the start of the import until every message is
recorded as sent, through one dramatiq master (dispatcher.stack) and the SmsManager
sandbox answering every request after `--latency-ms` (an ordinary gateway across the
internet), with its duplicate-id check off so that a message sent twice is counted
twice.  A batch of several texts goes to the gateway as ONE XML API document (see
providers/smsmanager/sender.py).  `--provider smsc` runs the same through the SMSC.ru
sandbox instead (its defaults: four concurrent requests a login; a batch is one send.php
`list`), for comparison.  Prints, per run and as the median: recipients/s, the sends the
sandbox counted (must be one per recipient, none twice) and the requests it received.
Exits 1 when a run is not exactly once.  REDIS_URL (default redis://127.0.0.1:6379/10,
the benchmarks' database) is FLUSHED before each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.end_to_end import write_csv
from config.settings import Settings
from dispatcher import api, control
from dispatcher.stack import Stack

DEFAULT_URL = "redis://127.0.0.1:6379/10"
PROVIDERS = ("smsmanager", "smsc")
CAMPAIGN = "personal-bench"
TEXT = "Hi {name}, your parcel is on its way"
BOOT_S = 2.0  # the worker processes start before the clock does
POLL_S = 0.02
DEADLINE_S = 300.0


def run_once(
    url: str,
    csv_path: Path,
    n: int,
    latency_ms: float,
    processes: int,
    threads: int,
    provider: str,
) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    sandbox = {"dedupe_ids": False, "faults": {"latency_ms": latency_ms}}
    with Stack(url, sandbox_defaults=sandbox) as stack:
        base = stack.sandbox(provider=provider)
        # workers refuse to start without the credentials of SMS_PROVIDER (ants by default)
        master = stack.workers(processes, threads, SMS_PROVIDER=provider)
        if provider == "smsc":
            settings = Settings(redis_url=url, smsc_base_url=base)
        else:
            settings = Settings(redis_url=url, smsmanager_base_url=base)
        time.sleep(BOOT_S)
        if master.poll() is not None:
            raise SystemExit(f"the workers exited at start (code {master.returncode})")
        started = time.perf_counter()
        report = api.import_csv(
            csv_path, campaign=CAMPAIGN, text=TEXT, settings=settings, provider=provider
        )
        seconds = wait_sent(client, n, started)
        state = sandbox_state(base)
    counted = state["accepted"]
    return {
        "recipients_per_s": n / seconds,
        "seconds": seconds,
        "valid": report.valid,
        "sends": sum(counted.values()),
        "ids": len(counted),
        "double_sends": state["doubleSends"],
        "requests": state["requests"],
    }


def wait_sent(client: redis.Redis, n: int, started: float) -> float:
    """Seconds from `started` until every message of the campaign is sent."""
    while time.perf_counter() - started < DEADLINE_S:
        try:
            if control.status(client, CAMPAIGN)["done_sending"] >= n:
                return time.perf_counter() - started
        except Exception:  # the campaign does not exist until the import starts it
            pass
        time.sleep(POLL_S)
    raise SystemExit(f"not every message was sent within {DEADLINE_S:.0f} s")


def sandbox_state(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/_sandbox/state?ids=1", timeout=60) as resp:
        return orjson.loads(resp.read())  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipients", type=int, default=3000)
    p.add_argument("--latency-ms", type=float, default=200.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--provider", choices=PROVIDERS, default="smsmanager")
    args = p.parse_args()
    url = os.environ.get("REDIS_URL", DEFAULT_URL)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "personal.csv"
        write_csv(csv_path, args.recipients)
        for i in range(1, args.runs + 1):
            r = run_once(
                url,
                csv_path,
                args.recipients,
                args.latency_ms,
                args.processes,
                args.threads,
                args.provider,
            )
            print(
                f"run {i}: {r['recipients_per_s']:,.0f} recipients/s ({r['seconds']:.2f} s), "
                f"sandbox counted {r['sends']:,} sends of {r['ids']:,} ids, "
                f"{r['double_sends']} twice; requests {r['requests']}"
            )
            results.append(r)
    exact = all(
        r["sends"] == r["ids"] == r["valid"] == args.recipients and not r["double_sends"]
        for r in results
    )
    rate = statistics.median(r["recipients_per_s"] for r in results)
    print(
        f"median: {rate:,.0f} recipients/s, {args.recipients:,} personalised recipients "
        f"through {args.provider} at {args.latency_ms:.0f} ms latency, {args.processes}x"
        f"{args.threads} workers; {'each sent exactly once' if exact else 'NOT EXACTLY ONCE'}"
    )
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
