"""End-to-end throughput: CSV import, Redis, dramatiq workers, sandbox over HTTP, outcome stream.

    python bench/end_to_end.py [--recipients 100000] [--processes 2] [--threads 8] [--runs 1]
                               [--provider ants|smsmanager|smsc]

Through the sandbox of `--provider`, with its duplicate-id check off, so a message sent
twice would be counted twice: a run that is not exactly once (every recipient's message
accepted by the gateway once, none twice) stops with an error.  Prints, per run:
recipients/s from the start of the import until every message
is recorded as accepted, the import's own rate, the peak RSS of the producer
(this process) and of each worker process, and where the CPU went: seconds used by
the producer, the worker processes, the sandbox and Redis during the run.  REDIS_URL defaults to
redis://127.0.0.1:6379/9, which is FLUSHED first.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import redis

from config.settings import Settings
from dispatcher import api, control
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, Stack

DEFAULT_URL = "redis://127.0.0.1:6379/9"
POLL_S = 0.05


def write_csv(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("phone,name\n")
        for i in range(n):
            fh.write(f"08{i % 10}{i % 10_000_000:07d},n{i}\n")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().split()
            except OSError:
                continue
            if int(stat[3]) == pid:
                out.append(int(entry))
    return out


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_once(
    url: str, n: int, processes: int, threads: int, csv_path: Path, provider: str
) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    with Stack(url, sandbox_defaults={"dedupe_ids": False}) as stack:
        base = stack.sandbox(provider=provider)
        workers = stack.workers(processes, threads)
        settings = Settings(
            redis_url=url,
            ants_base_url=base,
            ants_username=SANDBOX_USER,
            ants_password=SANDBOX_PASSWORD,
        )
        time.sleep(2.0)  # let the worker processes boot before the clock starts
        roles = {"sandbox": [stack.procs[0].pid], "workers": [workers.pid, *children(workers.pid)]}
        before = {k: sum(cpu_s(p) for p in pids) for k, pids in roles.items()}
        before |= {"redis": redis_cpu_s(client), "producer": time.process_time()}
        started = time.perf_counter()
        done = threading.Event()
        drained: dict[str, float] = {}
        watcher = threading.Thread(target=_watch, args=(client, n, started, done, drained))
        watcher.start()
        report = api.import_csv(
            csv_path, campaign="bench", text="Hi {name}", settings=settings, provider=provider
        )
        imported = time.perf_counter() - started
        watcher.join()
        cpu = {k: sum(cpu_s(p) for p in pids) - before[k] for k, pids in roles.items()}
        cpu |= {
            "redis": redis_cpu_s(client) - before["redis"],
            "producer": time.process_time() - before["producer"],
        }
        rss = [peak_rss_mb(pid) for pid in children(workers.pid)]
        sb = _sandbox_state(base)
    counts = set(sb["accepted"].values())
    if sb["doubleSends"] or sb["acceptedMessages"] != report.valid or counts != {1}:
        raise SystemExit(
            f"not exactly once: {sb['doubleSends']} double sends, "
            f"{sb['acceptedMessages']} of {report.valid} accepted"
        )
    return {
        "recipients_per_s": n / drained["seconds"],
        "seconds": drained["seconds"],
        "import_rows_per_s": report.rows / imported,
        "producer_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": max(rss) if rss else 0.0,
        "workers": len(rss),
        **{f"cpu_s_{k}": v for k, v in cpu.items()},
        "cpu_us_per_recipient": sum(cpu.values()) / n * 1e6,
    }


def _sandbox_state(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/_sandbox/state?ids=1", timeout=60) as resp:
        return orjson.loads(resp.read())


def _watch(
    client: redis.Redis, n: int, started: float, done: threading.Event, out: dict[str, float]
) -> None:
    while True:
        try:
            st = control.status(client, "bench")
        except Exception:  # the campaign does not exist until the import starts
            time.sleep(POLL_S)
            continue
        if st["done_sending"] >= n:
            out["seconds"] = time.perf_counter() - started
            return
        time.sleep(POLL_S)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipients", type=int, default=100_000)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--provider", default="ants", choices=["ants", "smsmanager", "smsc"])
    args = p.parse_args()
    url = os.environ.get("REDIS_URL", DEFAULT_URL)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "bench.csv"
        write_csv(csv_path, args.recipients)
        results = [
            run_once(url, args.recipients, args.processes, args.threads, csv_path, args.provider)
            for _ in range(args.runs)
        ]
    for i, r in enumerate(results, 1):
        print(f"run {i}: " + "  ".join(f"{k}={v:,.1f}" for k, v in r.items()))
    rates = [r["recipients_per_s"] for r in results]
    print(
        f"median: {statistics.median(rates):,.0f} recipients/s end to end "
        f"({args.recipients:,} recipients through {args.provider}, "
        f"{args.processes}x{args.threads} workers, each accepted exactly once)"
    )


if __name__ == "__main__":
    main()
