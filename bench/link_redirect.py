"""Tracked-link redirects per second one `smsdispatch api` process answers:
`python bench/link_redirect.py`.

Starts `smsdispatch api` in a subprocess on a free port (Redis: REDIS_URL, default the
local server's db 10, keys under a `smsbench-links:` prefix, removed at the end), mints
LINKS short links of one campaign (dispatcher.links, as an import does), then sends
`GET /l/{code}` over CONNECTIONS keep-alive connections, PIPELINE requests written at
once on each (a raw asyncio client: it costs far less CPU than the server, so the
figure is the server's).  Every request is a real click (click.lua: the link's count,
the campaign's counters, its clicks by minute, one `clicked` event in the stream) answered
302.  Prints each run (REQUESTS redirects) and the median of RUNS runs, then checks that
Redis counted every click.  Each run also says how many redirects the server answered per
second of its own CPU time (user + system, from /proc): on a machine whose cores are
shared, the wall-clock figure falls with the others' load; that one much less.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PREFIX = "smsbench-links:"
os.environ["SMS_KEY_PREFIX"] = PREFIX  # before core.keys is imported, here and in the server
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/10")
LINKS = int(os.environ.get("BENCH_LINKS", "10000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "30000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
PIPELINE = int(os.environ.get("BENCH_PIPELINE", "16"))
RUNS = 5
WARM_UP = 1000  # redirects before the runs
TARGET = "https://example.org/sale"
CAMPAIGN = "bench-links"
AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Version/17.1 Safari/604.1"

from dispatcher import links  # noqa: E402  (after SMS_KEY_PREFIX)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "ANTS_API_KEY": "bench",  # a provider's credentials, or the API refuses to start
        "SMS_LINK_BASE": "https://s.example.com",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "dispatcher.cli", "api", "--host", "127.0.0.1", "--port"]
    return subprocess.Popen([*cmd, str(port)], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"smsdispatch api exited ({server.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("smsdispatch api did not listen within 30 s")


def mint(client: redis.Redis) -> list[str]:
    tag = links.claim_tag(client, CAMPAIGN, 3600)
    messages = [(f"{CAMPAIGN}-{n}", [TARGET]) for n in range(2, LINKS + 2)]
    codes: list[str] = []
    for at in range(0, len(messages), 1000):
        codes += [c for (c,) in links.mint(client, tag, CAMPAIGN, messages[at : at + 1000], 3600)]
    return codes


async def connection(port: int, requests: list[bytes]) -> int:
    """Send `requests` PIPELINE at a time on one connection; the 302s answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    found = 0
    try:
        for at in range(0, len(requests), PIPELINE):
            chunk = requests[at : at + PIPELINE]
            writer.write(b"".join(chunk))
            seen = 0
            buffer = b""
            while seen < len(chunk):
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                buffer += data
                answers = buffer.count(b"\r\n\r\n")  # 302s carry no body
                seen = answers
            found += buffer.count(b"HTTP/1.1 302 ")
    finally:
        writer.close()
    return found


async def run(port: int, codes: list[str], count: int = REQUESTS) -> tuple[float, int]:
    requests = [
        (
            f"GET {links.PATH}{codes[n % len(codes)]} HTTP/1.1\r\nHost: s.example.com\r\n"
            f"User-Agent: {AGENT}\r\n\r\n"
        ).encode()
        for n in range(count)
    ]
    share = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]
    started = time.perf_counter()
    found = await asyncio.gather(*(connection(port, mine) for mine in share))
    return count / (time.perf_counter() - started), sum(found)


def clean(client: redis.Redis) -> None:
    for key in client.scan_iter(f"{PREFIX}*", count=1000):
        client.unlink(key)


def main() -> int:
    client = redis.Redis.from_url(REDIS_URL)
    clean(client)
    port = free_port()
    server = start_api(port)
    try:
        codes = mint(client)
        wait_listening(port, server)
        asyncio.run(run(port, codes, WARM_UP))  # connections, the script cache
        figures, per_cpu = [], []
        for n in range(1, RUNS + 1):
            cpu = cpu_seconds(server.pid)
            per_s, found = asyncio.run(run(port, codes))
            if found != REQUESTS:
                raise SystemExit(f"run {n}: {found} of {REQUESTS} answers were 302s")
            figures.append(per_s)
            per_cpu.append(REQUESTS / max(cpu_seconds(server.pid) - cpu, 1e-3))
            print(f"run {n}: {REQUESTS} redirects, {per_s:,.0f}/s, {per_cpu[-1]:,.0f} per CPU-s")
        summary = links.summary(client, links.tag_of(client, CAMPAIGN), LINKS)
        wanted = REQUESTS * RUNS + WARM_UP
        if summary["total"] != wanted:
            raise SystemExit(f"Redis counted {summary['total']} clicks, not {wanted}")
        print(
            f"median of {RUNS}: {statistics.median(figures):,.0f} redirects/s in one process, "
            f"{statistics.median(per_cpu):,.0f} per second of its CPU "
            f"({CONNECTIONS} connections x {PIPELINE} pipelined; every click counted: "
            f"{summary['total']:,})"
        )
    finally:
        server.terminate()
        server.wait(10)
        clean(client)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
