"""Transactional latency: `python bench/otp_latency.py` (issue 24's cases, 100,000 recipients).

Starts the sandbox gateway (answering every send --latency ms late) and dramatiq workers in
the Procfile's layout (`worker`: --processes x --threads on both queues; `otp`: 1 x 4 on
`transactional`), with dramatiq's own idle timeout (1 s, what `smsdispatch worker` runs),
on REDIS_URL (default the local server's db 11).  Each `api.send_sms` is timed from the
call until its message is `accepted` (the ledger's `ts`); our own share is that minus the
gateway's --latency.  For each case it prints p50, p99 and max of our share, of the time
until the gateway had the request (the sandbox's log, `sentAt`) and of the whole, in ms.
The cases (--cases, comma-separated):

- `idle`: the workers idle for --idle seconds (60), then one send_sms; then
  --idle-otps - 1 more, each after --idle-gap seconds (5: long enough for an idle
  consumer's poll to have grown to its ceiling).  The first one is printed on its own.
- `campaign`: a campaign of --recipients numbers imported (a subprocess: `smsdispatch
  import`; --batch-size: its SMS_BATCH_SIZE) and, once the workers are sending it, one
  send_sms every --interval seconds (0.2) until the campaign has been sent, each to a new
  number.
- `rabbitmq`: `campaign` with the queues on RabbitMQ (SMS_BROKER_URL; a virtual host of its
  own on the machine's server, made and removed with rabbitmqctl; --amqp to name another).
- `pin`: `api.send_otp` (the gateway's 2FA API, called from the producer: no queue) --otps
  times behind a campaign at --rate (SMS_RATE) with --share (SMS_TRANSACTIONAL_SHARE),
  after --alone seconds of the campaign alone, whose parts/s is printed as a share of
  SMS_RATE (the idle transactional share is lent: target >= 97%).

--runs repeats the cases and prints the median of each figure over the runs.  --flush
empties the Redis database after each case (it holds the whole campaign).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import Settings  # noqa: E402
from core.limits import Limit, Rate  # noqa: E402
from core.outcomes import State  # noqa: E402
from dispatcher import api, control, otp  # noqa: E402
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, WORKER_TIMEOUT_VAR, Stack  # noqa: E402

CAMPAIGN_NICE = 10  # the Procfile's `worker --nice 10`
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11")
AMQP_SERVER = "amqp://guest:guest@127.0.0.1:5672"
CAMPAIGN = "otpbench"
SENDING_TIMEOUT = 600.0
ACCEPTED_TIMEOUT = 60.0
DRAMATIQ_IDLE_TIMEOUT_MS = 1000  # dramatiq's default worker_timeout: what production runs
OTP_PROCESSES, OTP_THREADS = 1, 4  # the Procfile's `otp`
MS = 1000
LOGGED_SPARE = 10_000  # messageIds the sandbox's log keeps beyond the campaign's
Timed = tuple[str, float]  # (messageId, wall time before the call)


def args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cases", default="idle,campaign,rabbitmq", help="idle, campaign, rabbitmq, pin"
    )
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--recipients", type=int, default=100_000)
    p.add_argument("--latency", type=float, default=300.0, help="gateway latency, ms")
    p.add_argument("--idle", type=float, default=60.0, help="seconds idle before the first")
    p.add_argument("--idle-otps", type=int, default=5)
    p.add_argument("--idle-gap", type=float, default=5.0)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between sends")
    p.add_argument("--batch-size", type=int, default=0, help="SMS_BATCH_SIZE of the campaign")
    p.add_argument("--amqp", default="", help="a RabbitMQ URL (default: a vhost of our own)")
    p.add_argument("--otps", type=int, default=200, help="pin: send_otp calls")
    p.add_argument("--rate", default="1000/1s", help="pin: SMS_RATE of the account")
    p.add_argument("--share", default="0.2", help="pin: SMS_TRANSACTIONAL_SHARE")
    p.add_argument("--alone", type=float, default=10.0, help="pin: seconds of campaign alone")
    p.add_argument(
        "--nice",
        type=int,
        default=CAMPAIGN_NICE,
        help="the `worker` processes' --nice (the Procfile's; 0: the otp ones' priority)",
    )
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--flush", action="store_true", help="FLUSHDB the Redis database after each")
    return p.parse_args()


def write_csv(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "name"])
        w.writerows([f"08{i % 10}{i:07d}", f"n{i}"] for i in range(n))


def state(base: str, **flags: int) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in flags.items())
    with urllib.request.urlopen(f"{base}/_sandbox/state?{query}", timeout=60) as resp:
        return orjson.loads(resp.read())


def sent_so_far(client: redis.Redis) -> int:
    try:
        return int(control.status(client, CAMPAIGN)["done_sending"])
    except Exception:  # not imported yet
        return 0


def drained(client: redis.Redis, imported: subprocess.Popen[bytes]) -> bool:
    """The import finished and every message of the campaign has been sent."""
    if imported.poll() is None:
        return False
    status = control.status(client, CAMPAIGN)
    return int(status["done_sending"]) >= int(status["messages"])


def wait_sending(client: redis.Redis) -> None:
    deadline = time.monotonic() + SENDING_TIMEOUT
    while sent_so_far(client) == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the campaign never started sending")
        time.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p99": pct(values, 0.99), "max": max(values)}


def line(name: str, figures: dict[str, float]) -> str:
    p50, p99, most = figures["p50"], figures["p99"], figures["max"]
    return f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {most:.1f} ms"


def settings_of(base: str, **overrides: Any) -> Settings:
    return Settings(
        redis_url=REDIS_URL,
        ants_base_url=base,
        ants_username=SANDBOX_USER,
        ants_password=SANDBOX_PASSWORD,
        **overrides,
    )


def send(settings: Settings, number: str) -> Timed:
    start = time.time()
    return api.send_sms(number, "Your code is 123456", settings=settings), start


def accepted_after(client: redis.Redis, sent: list[Timed]) -> list[float]:
    """Milliseconds from each call to its message's `accepted` (waits for them all)."""
    took: dict[str, float] = {}
    deadline = time.monotonic() + ACCEPTED_TIMEOUT
    while len(took) < len(sent):
        for mid, start in sent:
            if mid not in took:
                found = control.message(client, mid)
                if found and found["state"] == State.ACCEPTED:
                    took[mid] = int(found["ts"]) - start * MS
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(sent) - len(took)} of {len(sent)} never accepted")
        time.sleep(0.002)
    return [took[mid] for mid, _ in sent]


def arrivals(base: str, sent: list[Timed]) -> list[float]:
    """Milliseconds from each call until the gateway had its request (the sandbox's own
    record, `?arrivals=1`: the wall clock when the request came in, before its latency)."""
    with urllib.request.urlopen(f"{base}/_sandbox/state?arrivals=1", timeout=60) as resp:
        logged = orjson.loads(resp.read())["arrivals"]
    return [logged[mid] * MS - start * MS for mid, start in sent]


def shares(
    whole: list[float], latency_ms: float, to_gateway: list[float]
) -> dict[str, dict[str, float]]:
    return {
        "ours": summary([w - latency_ms for w in whole]),
        "gateway": summary(to_gateway),
        "whole": summary(whole),
    }


def procfile_workers(stack: Stack, a: argparse.Namespace) -> None:
    """`worker` on both queues and `otp` on `transactional`, with dramatiq's idle timeout."""
    timeout = {WORKER_TIMEOUT_VAR: str(DRAMATIQ_IDLE_TIMEOUT_MS)}
    both = stack.workers(processes=a.processes, threads=a.threads, nice=a.nice, **timeout)
    only = stack.workers(OTP_PROCESSES, OTP_THREADS, ["transactional"], **timeout)
    stack.wait_ready(both)
    stack.wait_ready(only)


def sandbox_config(latency_ms: float, recipients: int) -> str:
    """Every send --latency ms late; no delivery reports; every messageId kept in its log."""
    dlr = {"enabled": False, "logs_max": 2 * recipients + LOGGED_SPARE}
    return json.dumps({"faults": {"latency_ms": latency_ms}, "dlr": dlr})


def idle_case(a: argparse.Namespace, tmp: Path, client: redis.Redis) -> dict[str, Any]:
    with Stack(REDIS_URL, log_dir=tmp / "logs") as stack:
        base = stack.sandbox(SANDBOX_CONFIG=sandbox_config(a.latency, a.recipients))
        procfile_workers(stack, a)
        settings = settings_of(base)
        sent = []
        for i in range(a.idle_otps):
            time.sleep(a.idle if i == 0 else a.idle_gap)
            sent.append(send(settings, f"0613{i:06d}"))
            accepted_after(client, sent[-1:])  # idle again only after it went
        whole = accepted_after(client, sent)
        to_gateway = arrivals(base, sent)
    figures = shares(whole, a.latency, to_gateway)
    figures["first"] = {"ours": whole[0] - a.latency}
    print(
        f"idle {a.idle:.0f} s, then one send_sms: our share {figures['first']['ours']:.1f} ms; "
        f"{len(sent)} sends ({len(sent) - 1} more after {a.idle_gap:.0f} s idle each)"
    )
    return figures


@contextlib.contextmanager
def vhost(url: str) -> Iterator[str]:
    """A RabbitMQ virtual host of our own on the machine's server (or `url` as it is)."""
    if url:
        yield url
        return
    name = f"otpbench-{uuid.uuid4().hex[:8]}"

    def ctl(*words: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *words], check=True, capture_output=True)

    ctl("add_vhost", name)
    try:
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"{AMQP_SERVER}/{name}"
    finally:
        ctl("delete_vhost", name)


def importer(stack: Stack, csv_path: Path) -> subprocess.Popen[bytes]:
    text = "Hello {name}, our sale starts today"
    cmd = [sys.executable, "-m", "dispatcher.cli", "import", str(csv_path)]
    return subprocess.Popen(
        [*cmd, "--campaign", CAMPAIGN, "--text", text],
        env={**stack.env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def campaign_case(
    a: argparse.Namespace, tmp: Path, client: redis.Redis, broker_url: str = ""
) -> dict[str, Any]:
    env = {"SMS_BROKER_URL": broker_url} if broker_url else {}
    if a.batch_size:
        env["SMS_BATCH_SIZE"] = str(a.batch_size)
    write_csv(tmp / "campaign.csv", a.recipients)
    with Stack(REDIS_URL, log_dir=tmp / "logs", **env) as stack:
        base = stack.sandbox(SANDBOX_CONFIG=sandbox_config(a.latency, a.recipients))
        procfile_workers(stack, a)
        settings = settings_of(base, broker_url=broker_url)
        imported = importer(stack, tmp / "campaign.csv")
        wait_sending(client)
        began = time.monotonic()
        sent = []
        while not drained(client, imported):
            sent.append(send(settings, f"0614{len(sent):06d}"))
            time.sleep(a.interval)
            if time.monotonic() - began > SENDING_TIMEOUT:
                raise TimeoutError("the campaign never drained")
        took = time.monotonic() - began
        whole = accepted_after(client, sent)
        to_gateway = arrivals(base, sent)
    where = "RabbitMQ" if broker_url else "Redis"
    print(
        f"queues on {where}: {len(sent)} send_sms every {a.interval} s while "
        f"{a.recipients:,} recipients drained in {took:.1f} s ({a.recipients / took:,.0f}/s)"
    )
    return shares(whole, a.latency, to_gateway)


def pin_case(a: argparse.Namespace, tmp: Path, client: redis.Redis) -> dict[str, Any]:
    """send_otp (the 2FA API) behind a campaign at SMS_RATE, after the campaign alone."""
    env = {"SMS_RATE": a.rate, "SMS_TRANSACTIONAL_SHARE": a.share}
    limit = Limit.parse(a.rate, "--rate")
    rate = Rate(limit.attempts, limit.window_ms)
    write_csv(tmp / "campaign.csv", a.recipients)
    with Stack(REDIS_URL, log_dir=tmp / "logs", **env) as stack:
        base = stack.sandbox()
        stack.workers(processes=a.processes, threads=a.threads)
        settings = settings_of(base, rate=rate, transactional_share=float(a.share))
        app, message = otp.create_application(settings, "bench")
        settings = settings.with_overrides(otp_application_id=app, otp_message_id=message)
        imported = importer(stack, tmp / "campaign.csv")
        wait_sending(client)
        time.sleep(2.0)  # past the first burst: measure the steady state
        first = int(time.time()) + 1
        time.sleep(a.alone)
        pps = {int(k): v for k, v in state(base)["partsPerSecond"].items()}
        window = [pps.get(s, 0) for s in range(first, int(time.time()))]
        mean = statistics.mean(window)
        print(
            f"campaign alone ({len(window)} s): mean {mean:.1f} parts/s = "
            f"{100 * mean / rate.per_second:.1f}% of SMS_RATE {a.rate}"
        )
        sent = []
        for i in range(a.otps):
            start = time.time()
            sent.append((api.send_otp(f"0612{i:06d}", settings=settings), start))
            time.sleep(a.interval)
        arrivals = {
            r["pinId"]: r["wall"]
            for r in state(base, pins=1)["otp"]["requests"]
            if r["kind"] == "send" and r["status"] == 200
        }
        imported.terminate()
        imported.wait()
    print(f"{len(sent)} send_otp, {a.interval} s apart, beside the campaign")
    return {"ours": summary([(arrivals[p] - start) * MS for p, start in sent])}


def run_case(case: str, a: argparse.Namespace, client: redis.Redis) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="otpbench"))
    try:
        if case == "idle":
            return idle_case(a, tmp, client)
        if case == "campaign":
            return campaign_case(a, tmp, client)
        if case == "rabbitmq":
            with vhost(a.amqp) as url:
                return campaign_case(a, tmp, client, url)
        if case == "pin":
            return pin_case(a, tmp, client)
        raise SystemExit(f"no case {case!r}: idle, campaign, rabbitmq, pin")
    finally:
        if a.flush:
            client.flushdb()


NAMES = {
    "ours": "our share",
    "gateway": "send_sms -> the gateway has it",
    "whole": "send_sms -> accepted",
}


def main() -> None:
    a = args()
    client = redis.Redis.from_url(REDIS_URL)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    for run in range(1, a.runs + 1):
        for case in cases:
            print(f"-- run {run}, case {case}", flush=True)
            figures = run_case(case, a, client)
            for kind, values in figures.items():
                if kind in NAMES:
                    print(line(f"   {NAMES[kind]}", values), flush=True)
            runs[case].append(figures)
    if a.runs > 1:
        print(f"-- medians of {a.runs} runs")
        for case, results in runs.items():
            for kind in NAMES:
                if kind in results[0]:
                    medians = {
                        q: statistics.median(r[kind][q] for r in results)
                        for q in ("p50", "p99", "max")
                    }
                    print(line(f"{case}, {NAMES[kind]}", medians))
            if case == "idle":
                firsts = [r["first"]["ours"] for r in results]
                print(
                    f"idle, the first one's own share: {', '.join(f'{f:.1f}' for f in firsts)} ms"
                )


if __name__ == "__main__":
    main()
