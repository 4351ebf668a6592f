"""Redis memory per recipient: a campaign through workers, sandbox and delivery reports, on
a Redis server of its own (so `INFO memory` counts nothing else).

    python bench/redis_memory.py [--recipients 1000000] [--processes 2] [--threads 8]
                                 [--until final|sent]

Prints the producer's RSS at each tenth of the import (flat: rows stream), then `used_memory`
per recipient at three points: after the import (queued), at its peak
while messages are in flight (sampled every 0.2 s), and once every message is final (the
sandbox pushed its delivery reports to the webhook).  The outcome stream is a buffer for
its consumers, capped at SMS_OUTCOME_MAXLEN entries whatever the campaign's size, so the
in-flight peak is printed without it too (each sample less its XLEN times the bytes an
entry takes at the end).  Then, for the final state, the bytes
per recipient of each key family (`MEMORY USAGE` of every key, ids and numbers folded into
`*`), so the biggest costs show.
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import threading
import time
from pathlib import Path

import orjson
import redis

from config.settings import Settings
from core import keys
from dispatcher import api, control
from dispatcher.campaign import ImportReport
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, RedisServer, Stack

USER, PASSWORD = "hook", "hook-secret"
NOT_FINAL = ("queued", "accepted", "pending", "retrying", "deferred", "paused")
SAMPLE_S = 0.2
FOLD = re.compile(r"(?<=[:{])[^:{}]*\d[^:{}]*")  # a part holding a digit: an id, a number


def rss_mib() -> float:
    """This process's resident memory now (the producer: the import runs here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def families(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Key family -> (keys, bytes), from MEMORY USAGE of every key."""
    out: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    batch: list[bytes] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for k in batch:
            pipe.memory_usage(k, samples=0)
        for k, size in zip(batch, pipe.execute(), strict=True):
            fam = out[FOLD.sub("*", k.decode())]
            fam[0] += 1
            fam[1] += size or 0
        batch.clear()

    for key in client.scan_iter(count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            flush()
    flush()
    return {k: (v[0], v[1]) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipients", type=int, default=1_000_000)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument(
        "--until",
        choices=("final", "sent"),
        default="final",
        help="stop once every message is final (default), or once every one is "
        "sent (in flight: for 10M, whose reports take long here)",
    )
    args = p.parse_args()
    n = args.recipients
    dlr = {
        "format": "2018",
        "delay_ms": 500,
        "jitter_ms": 500,
        "username": USER,
        "password": PASSWORD,
        "batch_size": 500,
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", aof=False).start()
        try:
            run(server.url, n, args, dlr, Path(tmp))
        finally:
            server.stop()


def run(url: str, n: int, args: argparse.Namespace, dlr: dict[str, object], tmp: Path) -> None:
    client = redis.Redis.from_url(url)
    empty = used(client)
    csv_path = tmp / "c.csv"
    with open(csv_path, "w") as fh:
        fh.write("phone,name\n")
        for i in range(n):
            fh.write(f"08{i % 10}{i % 10_000_000:07d},n{i}\n")
    with Stack(url) as stack:
        base = stack.sandbox(SANDBOX_CONFIG=orjson.dumps({"dlr": dlr}).decode())
        hook = stack.webhook(USER, PASSWORD)
        settings = Settings(
            redis_url=url,
            ants_base_url=base,
            ants_username=SANDBOX_USER,
            ants_password=SANDBOX_PASSWORD,
        )
        started = time.perf_counter()
        rss: dict[int, float] = {}  # rows imported -> producer RSS, at each tenth of the file

        def progress(rp: ImportReport) -> None:
            if rp.rows >= (len(rss) + 1) * n // 10:
                rss[rp.rows] = rss_mib()

        report = api.import_csv(
            csv_path, campaign="mem", text="Hi {name}", settings=settings, progress=progress
        )
        imported = time.perf_counter() - started
        queued = used(client) - empty
        samples: list[tuple[int, int]] = [(queued, client.xlen(keys.OUTCOMES))]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                pipe = client.pipeline(transaction=False)
                pipe.info("memory")
                pipe.xlen(keys.OUTCOMES)
                info, xlen = pipe.execute()
                samples.append((int(info["used_memory"]) - empty, xlen))
                time.sleep(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stack.workers(args.processes, args.threads, SMS_NOTIFY_URL=hook)
        while True:
            st = control.status(client, "mem")
            if st["done_sending"] >= n and (
                args.until == "sent" or not any(st["counts"].get(k, 0) for k in NOT_FINAL)
            ):
                break
            time.sleep(0.5)
        stop.set()
        sampler.join()
        elapsed = time.perf_counter() - started
    final = used(client) - empty
    peak = max(u for u, _ in samples)
    entry = (client.memory_usage(keys.OUTCOMES, samples=0) or 0) / max(
        1, client.xlen(keys.OUTCOMES)
    )
    bare = max(u - x * entry for u, x in samples)  # the stream's entries at that moment out
    print(f"{n:,} recipients, all {args.until} after {elapsed:.0f} s; counts {st['counts']}")
    print(
        f"import: {report.rows:,} rows in {imported:.0f} s; producer RSS (MiB) at each tenth: "
        + " ".join(f"{v:.0f}" for v in rss.values())
    )
    print(
        f"used_memory per recipient: queued {queued / n:.0f} B, in flight peak "
        f"{peak / n:.0f} B, at the end ({args.until}) {final / n:.0f} B "
        f"(peak {peak / 2**20:,.0f} MiB, end {final / 2**20:,.0f} MiB)"
    )
    print(
        f"without the outcome stream (a buffer capped at SMS_OUTCOME_MAXLEN entries, "
        f"~{entry:.0f} B each): in flight peak {bare / n:.0f} B/recipient"
    )
    fams = families(client)
    print(f"at the end ({args.until}), by key family (MEMORY USAGE), bytes per recipient:")
    for fam, (count, size) in sorted(fams.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"  {size / n:7.1f}  {count:>10,} keys  {fam}")


if __name__ == "__main__":
    main()
