"""OTP latency while a large campaign drains: `python bench/otp_latency.py --recipients 200000`.

Starts the sandbox gateway and dramatiq workers (`dispatcher.stack`) on REDIS_URL
(default the local server's db 11), creates a 2FA application, imports a
campaign of --recipients numbers from a CSV (in a subprocess: `smsdispatch
import`), waits until the workers are sending it, then calls `api.send_otp`
--otps times, --interval seconds apart, each to a new number.  For every PIN it
takes the time from the call to the sandbox receiving the PIN request (the
sandbox's arrival wall time, `/_sandbox/state?pins=1`) and the whole call, and
prints median and p99 of both, with the campaign's parts/s meanwhile.

First the campaign runs alone for --alone seconds and its parts/s is printed as a
share of SMS_RATE (the idle transactional share is lent to it: target >= 97%);
then the OTPs run alongside it (target p99 < 1 s).  The account rate (--rate,
SMS_RATE) is shared as the product runs it (SMS_TRANSACTIONAL_SHARE, --share).
--flush empties the Redis database at the end (it holds the whole campaign).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import Settings  # noqa: E402
from core.limits import Limit, Rate  # noqa: E402
from dispatcher import api, control, otp  # noqa: E402
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, Stack  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11")
CAMPAIGN = "otpbench"
SENDING_TIMEOUT = 600.0
MS = 1000


def args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipients", type=int, default=1_000_000)
    p.add_argument("--otps", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.1, help="seconds between OTP sends")
    p.add_argument("--rate", default="1000/1s", help="SMS_RATE of the account")
    p.add_argument("--share", default="0.2", help="SMS_TRANSACTIONAL_SHARE")
    p.add_argument("--alone", type=float, default=10.0, help="seconds of campaign alone")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--flush", action="store_true", help="FLUSHDB the Redis database at the end")
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


def wait_sending(client: redis.Redis) -> None:
    deadline = time.monotonic() + SENDING_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if control.status(client, CAMPAIGN)["done_sending"] > 0:
                return
        except Exception:  # not imported yet
            pass
        time.sleep(0.2)
    raise TimeoutError("the campaign never started sending")


def probe(settings: Settings, n: int, interval: float) -> list[tuple[str, float, float]]:
    """(pinId, wall time before the call, call duration) for n OTP sends."""
    out = []
    for i in range(n):
        start = time.time()
        pin_id = api.send_otp(f"0612{i:06d}", settings=settings)
        out.append((pin_id, start, time.time() - start))
        time.sleep(interval)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def alone(base: str, seconds: float, rate: Rate) -> None:
    """The campaign's parts/s over `seconds` of no OTP traffic, against SMS_RATE."""
    first = int(time.time()) + 1
    time.sleep(seconds)
    pps = {int(k): v for k, v in state(base)["partsPerSecond"].items()}
    window = [pps.get(s, 0) for s in range(first, int(time.time()))]
    mean = statistics.mean(window)
    print(
        f"campaign alone ({len(window)} s): median {statistics.median(window):.0f} parts/s, "
        f"mean {mean:.1f} = {100 * mean / rate.per_second:.1f}% of SMS_RATE {rate}"
    )


def report(base: str, sent: list[tuple[str, float, float]], client: redis.Redis) -> None:
    arrivals = {
        r["pinId"]: r["wall"]
        for r in state(base, pins=1)["otp"]["requests"]
        if r["kind"] == "send" and r["status"] == 200
    }
    to_gateway = [(arrivals[p] - start) * MS for p, start, _ in sent]
    calls = [took * MS for _, _, took in sent]
    first, last = int(sent[0][1]), int(sent[-1][1])
    pps = {int(k): v for k, v in state(base)["partsPerSecond"].items()}
    window = [pps.get(s, 0) for s in range(first + 1, last)]
    done = control.status(client, CAMPAIGN)["done_sending"]
    print(
        f"OTPs: {len(sent)}; campaign parts/s meanwhile: mean {statistics.mean(window):.0f}, "
        f"max {max(window)}; campaign sent so far: {done}"
    )
    for name, values in (("send_otp -> sandbox receives", to_gateway), ("send_otp call", calls)):
        print(
            f"{name}: median {statistics.median(values):.1f} ms, p99 {pct(values, 0.99):.1f} ms, "
            f"max {max(values):.1f} ms"
        )


def main() -> None:
    a = args()
    client = redis.Redis.from_url(REDIS_URL)
    env = {"SMS_RATE": a.rate, "SMS_TRANSACTIONAL_SHARE": a.share}
    tmp = Path(tempfile.mkdtemp(prefix="otpbench"))
    try:
        with Stack(REDIS_URL, log_dir=tmp / "logs", **env) as stack:
            base = stack.sandbox()
            stack.workers(processes=a.processes, threads=a.threads)
            limit = Limit.parse(a.rate, "--rate")
            rate = Rate(limit.attempts, limit.window_ms)
            settings = Settings(
                redis_url=REDIS_URL,
                ants_base_url=base,
                ants_username=SANDBOX_USER,
                ants_password=SANDBOX_PASSWORD,
                rate=rate,
                transactional_share=float(a.share),
            )
            app, message = otp.create_application(settings, "bench")
            settings = settings.with_overrides(otp_application_id=app, otp_message_id=message)
            write_csv(tmp / "campaign.csv", a.recipients)
            importer = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dispatcher.cli",
                    "import",
                    str(tmp / "campaign.csv"),
                    "--campaign",
                    CAMPAIGN,
                    "--text",
                    "Hello {name}, our sale starts today",
                ],
                env={**stack.env, "PYTHONPATH": str(ROOT)},
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_sending(client)
            time.sleep(2.0)  # past the first burst: measure the steady state
            alone(base, a.alone, rate)
            sent = probe(settings, a.otps, a.interval)
            report(base, sent, client)
            importer.terminate()
            importer.wait()
    finally:
        if a.flush:
            client.flushdb()


if __name__ == "__main__":
    main()
