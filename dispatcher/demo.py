"""`smsdispatch demo [--provider NAME]`: a whole campaign on one machine, against the
sandbox of that gateway (ANTS by default).

Embedded Redis unless REDIS_URL is set; sandbox and workers as child processes;
the sample CSV imported with a live progress bar; a summary table at the end.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config import settings as config
from core.redis_pool import sync_redis
from dispatcher import api, control, embedded
from dispatcher.stack import Stack, sandbox_env

POLL_S = 0.2
STALL_S = 120.0  # give up waiting when nothing moves for this long
console = Console(stderr=True)


def run(args: argparse.Namespace) -> int:
    from dispatcher.cli import check_sandbox

    check_sandbox(args.provider)
    campaign = args.campaign or f"demo-{int(time.time())}"
    with (
        embedded.redis_url(start=True) as url,
        Stack(url, log_dir=Path(".smsdispatch/logs")) as stack,
    ):
        base = stack.sandbox(args.port, provider=args.provider)
        stack.workers(args.processes, args.threads, SMS_PROVIDER=args.provider)
        env = {**os.environ, **sandbox_env(args.provider, base), "REDIS_URL": url}
        settings = config.load(env)
        console.print(
            f"redis {url}  {args.provider} sandbox {base}  workers {args.processes}x{args.threads}"
        )
        started = time.perf_counter()
        report = _import(args, campaign, settings)
        final = _wait(sync_redis(url, cluster=settings.redis_cluster), campaign, report.valid)
        _summary(report, final, time.perf_counter() - started)
    return 0 if not final["paused"] else 1


def _import(args: argparse.Namespace, campaign: str, settings: config.Settings) -> Any:
    with _bar() as bar:
        task = bar.add_task("import", total=None)
        report = api.import_csv(
            args.file,
            campaign=campaign,
            text=args.text,
            settings=settings,
            provider=args.provider,
            progress=lambda rp: bar.update(task, completed=rp.rows),
        )
        bar.update(task, total=report.rows, completed=report.rows)
    return report


def _wait(client: redis.Redis, campaign: str, total: int) -> dict[str, Any]:
    last, moved = -1, time.monotonic()
    with _bar() as bar:
        task = bar.add_task("send", total=total)
        while True:
            st = control.status(client, campaign)
            bar.update(task, completed=st["done_sending"])
            if st["done_sending"] >= total or st["paused"]:
                return st
            if st["done_sending"] != last:
                last, moved = st["done_sending"], time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                console.print("[red]no progress for 2 minutes; see .smsdispatch/logs[/]")
                return st
            time.sleep(POLL_S)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description:>6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _summary(report: Any, st: dict[str, Any], elapsed: float) -> None:
    counts = st["counts"]
    t = Table(title=f"campaign {report.campaign}")
    t.add_column("")
    t.add_column("", justify="right")
    rows = [
        ("rows read", report.rows),
        ("invalid rows", report.invalid),
        ("duplicate rows", report.duplicates),
        (
            "accepted",
            counts.get("accepted", 0) + counts.get("pending", 0) + counts.get("delivered", 0),
        ),
        ("rejected / failed", counts.get("failed", 0) + counts.get("rejected", 0)),
        ("dead-lettered", counts.get("dead", 0)),
        ("in flight", st["in_flight"]),
        ("elapsed", f"{elapsed:.2f} s"),
        ("recipients / s", f"{report.valid / elapsed:,.0f}" if elapsed else "-"),
    ]
    rows += [(f"accepted by {p}", n) for p, n in st.get("accepted_by_provider", {}).items()]
    for k, v in rows:
        t.add_row(k, str(v))
    console.print(t)
    if st["paused"]:
        console.print(f"[yellow]paused: {st['paused']}[/]")
