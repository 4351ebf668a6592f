"""A campaign under faults, through real workers and the sandbox: `python bench/fault_run.py [N]`.

    REDIS_URL=redis://127.0.0.1:6379/10 PYTHONPATH=. python bench/fault_run.py 50000 --flush

Starts the sandbox and one dramatiq master with 2 worker processes (dispatcher.stack),
injects the faults of tests/integration/test_resilience.py (30 % HTTP 500, 5 %
timeouts after accepting, 429 bursts with Retry-After), imports N recipients and
waits until every message has a final-for-sending state and the dramatiq queues
are empty.  Prints messages, requests, resends (destinations the sandbox received
minus messages), double sends counted by the sandbox with its duplicate-id check off
(must be 0), time to drain, recipients/s and
dead letters.  `--kill` SIGKILLs a worker process at 30 % and measures how long its
unacked batches take to come back (SMS_HEARTBEAT_TIMEOUT_MS, SMS_MAINTENANCE_CHANCE).

The Redis database must be empty (dramatiq's keys cannot be prefixed); `--flush`
empties it first.  Exits 1 when a message is lost or accepted twice.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import redis

from config.settings import Settings
from core import keys
from dispatcher import api, control
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, Stack, child_pids

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/10")
FAULTS = {
    "error_share": 0.3,
    "timeout_share": 0.05,
    "timeout_sleep_s": 2.5,
    "throttle_every": 25,
    "throttle_burst": 3,
    "retry_after_s": 1,
}
WORKER_ENV = {
    "SMS_HTTP_TIMEOUT": "1.5",
    "SMS_MAX_ATTEMPTS": "30",
    "SMS_HEARTBEAT_TIMEOUT_MS": "3000",
}
CAMPAIGN = "faultrun"
HONEST = {"dedupe_ids": False}  # the sandbox accepts and counts a second send of an id


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("recipients", type=int, nargs="?", default=50_000)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--timeout-mode", choices=("sleep", "drop"), default="sleep")
    p.add_argument("--kill", action="store_true", help="SIGKILL a worker process at 30 %%")
    p.add_argument("--flush", action="store_true", help="empty the Redis database first")
    return p.parse_args()


def sandbox(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return orjson.loads(resp.read())


def write_csv(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "name"])
        w.writerows([f"08{i % 10}{i:07d}", f"n{i}"] for i in range(n))
    return path


def broker_busy(client: redis.Redis) -> bool:
    """Whether any dramatiq queue, delay queue, ack set or message hash is non-empty."""
    return any(k != b"dramatiq:__heartbeats__" for k in client.scan_iter("dramatiq:*"))


def unacked(client: redis.Redis) -> set[bytes]:
    return {k for k in client.scan_iter("dramatiq:__acks__.*") if client.scard(k)}


def kill_one_worker(
    stack: Stack, master: Any, client: redis.Redis, args: argparse.Namespace
) -> float:
    """SIGKILL one worker process, start a new master; seconds until its batches are back."""
    held = unacked(client)
    os.kill(child_pids(master.pid)[0], signal.SIGKILL)
    killed = time.monotonic()
    master.wait(60)  # dramatiq's master stops its other worker and exits; nothing respawns
    stack.workers(args.processes, args.threads, **WORKER_ENV)
    while any(client.scard(k) for k in held):
        time.sleep(0.02)
    return time.monotonic() - killed


def wait_done(client: redis.Redis, n: int, on_progress: Any = None) -> dict[str, Any]:
    while True:
        st = control.status(client, CAMPAIGN)
        if on_progress is not None:
            on_progress(st)
        if st["in_flight"] == 0 and not broker_busy(client):
            return st
        time.sleep(0.1)


def run(args: argparse.Namespace, client: redis.Redis, workdir: Path) -> int:
    with Stack(REDIS_URL, log_dir=workdir / "logs", sandbox_defaults=HONEST) as stack:
        base = stack.sandbox()
        sandbox(base, "/_sandbox/faults", {**FAULTS, "timeout_mode": args.timeout_mode})
        master = stack.workers(args.processes, args.threads, **WORKER_ENV)
        settings = Settings(
            redis_url=REDIS_URL,
            ants_base_url=base,
            ants_username=SANDBOX_USER,
            ants_password=SANDBOX_PASSWORD,
            batch_size=args.batch_size,
        )
        csv_path = write_csv(workdir / "recipients.csv", args.recipients)
        time.sleep(2)  # let the workers boot: time the campaign, not the interpreter start
        started = time.monotonic()
        api.import_csv(csv_path, campaign=CAMPAIGN, text="Hi {name}", settings=settings)
        imported = time.monotonic() - started
        recovery: list[float] = []

        def maybe_kill(st: dict[str, Any]) -> None:
            if args.kill and not recovery and st["done_sending"] >= 0.3 * args.recipients:
                recovery.append(kill_one_worker(stack, master, client, args))

        st = wait_done(client, args.recipients, maybe_kill)
        drained = time.monotonic() - started
        sb = sandbox(base, "/_sandbox/state?ids=1")
    return report(args, st, sb, imported, drained, client, recovery)


def report(
    args: argparse.Namespace,
    st: dict[str, Any],
    sb: dict[str, Any],
    imported: float,
    drained: float,
    client: redis.Redis,
    recovery: list[float],
) -> int:
    n = args.recipients
    expected = {f"{CAMPAIGN}-{line}" for line in range(2, n + 2)}
    accepted = set(sb["accepted"])
    requests = sum(v for k, v in sb["requests"].items() if "/text/" in k)
    rows = [
        ("messages", n),
        ("final states", st["counts"]),
        ("requests sent", requests),
        ("HTTP answers", sb["http"]),
        ("timeouts after accepting", len(sb["timeouts"])),
        ("destinations received", sb["destinationsReceived"]),
        ("destinations received again", sb["destinationsReceived"] - n),
        ("double sends (counted at the gateway)", sb["doubleSends"]),
        ("lost (never accepted)", len(expected - accepted)),
        ("dead letters", client.zcard(keys.DEADLETTERS)),
        ("import s", f"{imported:.2f}"),
        ("time to drain s", f"{drained:.2f}"),
        ("recipients/s", f"{n / drained:.0f}"),
    ]
    if recovery:
        rows.append(("killed worker's batches back after s", f"{recovery[0]:.2f}"))
    for name, value in rows:
        print(f"{name:>38}: {value}")
    ok = sb["doubleSends"] == 0 and accepted == expected
    return 0 if ok else 1


def main() -> int:
    args = parse()
    client = redis.Redis.from_url(REDIS_URL)
    if client.dbsize() and not args.flush:
        print(f"{REDIS_URL} is not empty; pass --flush to empty it", file=sys.stderr)
        return 2
    client.flushdb()
    print(
        f"{args.recipients} recipients, {args.processes} worker processes x {args.threads} "
        f"threads, batches of {args.batch_size}, faults {FAULTS} "
        f"timeout_mode={args.timeout_mode}, workers {WORKER_ENV}"
    )
    with tempfile.TemporaryDirectory(prefix="fault_run-") as tmp:
        return run(args, client, Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
