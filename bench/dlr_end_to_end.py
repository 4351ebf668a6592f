"""Delivery reports at scale: N recipients, the sandbox POSTs DLRs (delayed, duplicated,
reordered, and the intermediate ones the campaign asks for) to the webhook; prints how many
final states match the gateway's.

    python bench/dlr_end_to_end.py [--recipients 50000] [--format 2018|new]

REDIS_URL defaults to redis://127.0.0.1:6379/9, which is FLUSHED first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import redis

from config.settings import Settings
from core import ledger
from dispatcher import api, control
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, Stack

USER, PASSWORD = "hook", "hook-secret"
TO_STATE = {
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "undeliverable",
    "UNDELIVERABLE_PERMANENT": "undeliverable",
    "EXPIRED": "expired",
}
NOT_FINAL = ("queued", "accepted", "pending", "retrying", "deferred")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--recipients", type=int, default=50_000)
    p.add_argument("--format", default="2018", choices=("2018", "new"))
    args = p.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    client = redis.Redis.from_url(url)
    client.flushdb()
    dlr = {
        "format": args.format,
        "delay_ms": 50,
        "jitter_ms": 200,
        "delayed_share": 0.1,
        "delayed_extra_ms": 2000,
        "duplicate_share": 0.1,
        "reorder_share": 0.2,
        "username": USER,
        "password": PASSWORD,
        "batch_size": 200,
    }
    with tempfile.TemporaryDirectory() as tmp, Stack(url) as stack:
        csv_path = Path(tmp) / "c.csv"
        with open(csv_path, "w") as fh:
            fh.write(
                "phone,name\n"
                + "".join(f"08{i % 10}{i:07d},n{i}\n" for i in range(args.recipients))
            )
        base = stack.sandbox(SANDBOX_CONFIG=orjson.dumps({"dlr": dlr}).decode())
        hook = stack.webhook(USER, PASSWORD)
        stack.workers(2, 8, SMS_NOTIFY_URL=hook)
        settings = Settings(
            redis_url=url,
            ants_base_url=base,
            ants_username=SANDBOX_USER,
            ants_password=SANDBOX_PASSWORD,
        )
        started = time.perf_counter()
        api.import_csv(
            csv_path,
            campaign="dlr",
            text="Hi {name}",
            settings=settings,
            options=api.send_options(intermediate_reports=True),
        )
        while True:
            st = control.status(client, "dlr")
            if st["done_sending"] >= args.recipients and not any(
                st["counts"].get(k, 0) for k in NOT_FINAL
            ):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"{base}/_sandbox/state?final=1", timeout=60) as resp:
            state = orjson.loads(resp.read())
    decided = state["final"]
    mine = ledger.states(client, list(decided))
    match = sum(1 for (mid, o), s in zip(decided.items(), mine, strict=True) if s == TO_STATE[o])
    print(
        f"recipients {args.recipients:,}  final states matching the gateway: {match:,} "
        f"of {len(decided):,}  mismatches {len(decided) - match}"
    )
    print(f"all final after {elapsed:.1f} s; DLR POSTs: {state['dlr']}; counts: {st['counts']}")


if __name__ == "__main__":
    main()
