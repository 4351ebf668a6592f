"""Reports per second one webhook process takes: `python bench/webhook_bench.py [--burst [N]]`.

Starts `smsdispatch webhook` in a subprocess on a free port (Redis: REDIS_URL,
default the local server's db 12, keys under a `smsbench:` prefix removed at
the end).  Every report is new (a real state change, one stream entry each).

* Default (throughput): POSTs batches of 100 reports in the 2018 `results[]` JSON
  format from an aiohttp client with CONCURRENCY requests in flight, and prints
  each run and the median of RUNS runs.
* `--burst [N]` (default BURST_REPORTS): N POSTs of ONE report each, all at once
  (an aiohttp connector without a connection limit, so N requests in flight),
  the way a gateway flushes its callback queue.  Prints reports, concurrency,
  2xx and non-2xx answers (by status), seconds, reports/s, and the outcome
  events recorded.  Nothing is retried: a non-2xx answer is a report the gateway
  would have to send again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import aiohttp
import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
PREFIX = "smsbench:"
PER_BATCH = 100
BATCHES = int(os.environ.get("BENCH_BATCHES", "300"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
RUNS = 3
BURST_REPORTS = int(os.environ.get("BENCH_BURST_REPORTS", "5000"))
BURST_TIMEOUT_S = 120
USER, PASSWORD = "bench", "bench-secret"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_webhook(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "SMS_KEY_PREFIX": PREFIX,
        "WEBHOOK_USERNAME": USER,
        "WEBHOOK_PASSWORD": PASSWORD,
        "ANTS_API_KEY": "bench",  # a provider's credentials, or the webhook refuses to start
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "dispatcher.cli",
        "webhook",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def body(run: int, batch: int) -> bytes:
    first = batch * PER_BATCH
    results = [
        {
            "bulkId": f"bench{run}-b{batch}",
            "messageId": f"bench{run}-{first + i}",
            "to": f"6681{first + i:07d}",
            "sentAt": "2024-01-01T00:00:00.000+0700",
            "doneAt": "2024-01-01T00:00:05.000+0700",
            "smsCount": 1,
            "status": DELIVERED,
        }
        for i in range(PER_BATCH)
    ]
    return orjson.dumps({"results": results})


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(100):
        try:
            async with session.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("webhook did not start")


async def one_run(session: aiohttp.ClientSession, base: str, run: int) -> float:
    bodies = [body(run, b) for b in range(BATCHES)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    applied = 0

    async def client() -> None:
        nonlocal applied
        while not queue.empty():
            data = queue.get_nowait()
            async with session.post(f"{base}/dlr", data=data, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                applied += orjson.loads(await resp.read())["applied"]

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    assert applied == BATCHES * PER_BATCH, applied
    return BATCHES * PER_BATCH / elapsed


def one_report(i: int) -> bytes:
    """A 2018 callback holding one DELIVERED report, for its own messageId."""
    return orjson.dumps(
        {
            "results": [
                {
                    "bulkId": "burst-b0",
                    "messageId": f"burst-{i}",
                    "to": f"6681{i:07d}",
                    "smsCount": 1,
                    "status": DELIVERED,
                }
            ]
        }
    )


async def burst_run(port: int, reports: int) -> tuple[Counter[int], float]:
    """Every one-report POST at once; (answers by HTTP status, seconds)."""
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    bodies = [one_report(i) for i in range(reports)]
    timeout = aiohttp.ClientTimeout(total=BURST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=0)  # no client-side cap: all in flight at once
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await wait_ready(session, base)

        async def post(data: bytes) -> int:
            try:
                async with session.post(f"{base}/dlr", data=data, headers=headers) as resp:
                    await resp.read()
                    return resp.status
            except (TimeoutError, aiohttp.ClientError):
                return 0  # no answer at all (connection refused or reset, timeout)

        start = time.perf_counter()
        statuses = await asyncio.gather(*(post(b) for b in bodies))
        return Counter(statuses), time.perf_counter() - start


def raise_fd_limit(wanted: int) -> None:
    """Room for every client socket here and every server socket in the child (inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


async def bench(port: int) -> list[float]:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        return [await one_run(session, base, run) for run in range(RUNS)]


def cleanup() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for keys in _chunks(client.scan_iter(match=f"{PREFIX}*", count=5000), 5000):
        client.unlink(*keys)


def _chunks(it: Iterable[bytes], n: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for k in it:
        chunk.append(k)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--burst",
        type=int,
        nargs="?",
        const=BURST_REPORTS,
        default=0,
        metavar="N",
        help="N one-report POSTs at once (default %(const)s)",
    )
    args = parser.parse_args()
    if args.burst:
        raise_fd_limit(2 * args.burst + 1000)
    cleanup()
    port = free_port()
    proc = start_webhook(port)
    try:
        if args.burst:
            statuses, seconds = asyncio.run(burst_run(port, args.burst))
            recorded = redis.Redis.from_url(REDIS_URL).xlen(f"{PREFIX}outcomes")
        else:
            rates = asyncio.run(bench(port))
    finally:
        proc.terminate()
        proc.wait(10)
        cleanup()
    if args.burst:
        print_burst(args.burst, statuses, seconds, recorded)
        return
    for i, rate in enumerate(rates, 1):
        print(f"run {i}: {rate:,.0f} reports/s")
    setup = f"one webhook process, {BATCHES} x {PER_BATCH} reports, concurrency {CONCURRENCY}"
    print(f"median: {statistics.median(rates):,.0f} reports/s ({setup})")


def print_burst(reports: int, statuses: Counter[int], seconds: float, recorded: int) -> None:
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    others = {
        ("no answer" if s == 0 else s): n for s, n in sorted(statuses.items()) if not 200 <= s < 300
    }
    print(f"reports:     {reports:,} (one per POST)")
    print(f"concurrency: {reports:,} (all at once)")
    print(f"2xx:         {ok:,}")
    print(f"non-2xx:     {reports - ok:,} {others or ''}".rstrip())
    print(f"seconds:     {seconds:.2f}")
    print(f"reports/s:   {reports / seconds:,.0f} answered, {ok / seconds:,.0f} accepted")
    print(f"recorded:    {recorded:,} outcome events (one per accepted report)")


if __name__ == "__main__":
    main()
