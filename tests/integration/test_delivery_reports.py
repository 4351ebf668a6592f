"""Delivery reports end to end: the sandbox POSTs DLRs to the webhook over HTTP (delayed,
duplicated, reordered, with the intermediate PENDING reports the campaign asked for:
--intermediate-reports); every message's final state in Redis must match what the sandbox
decided, message by message: a PENDING report moved messages to `pending`, and none past
its final state, whatever order they came in."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from core import keys, ledger
from dispatcher import api
from dispatcher.stack import Stack
from tests.integration.conftest import sandbox_state, settings_for, wait_for, write_csv

pytestmark = pytest.mark.integration
HOOK_USER, HOOK_PASSWORD = "hook", "hook-secret"
SANDBOX_TO_STATE = {
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "undeliverable",
    "UNDELIVERABLE_PERMANENT": "undeliverable",
    "EXPIRED": "expired",
}
NOT_FINAL = ("queued", "accepted", "pending", "retrying", "deferred")


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("2018", "application/json"), ("new", "application/xml")]
)
def test_final_states_match_the_gateway(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, fmt: str, content_type: str
) -> None:
    dlr = {
        "format": fmt,
        "delay_ms": 50,
        "jitter_ms": 100,
        "delayed_share": 0.2,
        "delayed_extra_ms": 1500,
        "duplicate_share": 0.2,
        "reorder_share": 0.3,
        "username": HOOK_USER,
        "password": HOOK_PASSWORD,
        "outcomes": {
            "DELIVERED": 0.7,
            "UNDELIVERABLE": 0.1,
            "UNDELIVERABLE_PERMANENT": 0.1,
            "EXPIRED": 0.1,
        },
    }
    base = stack.sandbox(SANDBOX_CONFIG=orjson.dumps({"dlr": dlr}).decode())
    hook = stack.webhook(HOOK_USER, HOOK_PASSWORD)
    stack.workers(processes=1, threads=4, SMS_NOTIFY_URL=hook, SMS_NOTIFY_CONTENT_TYPE=content_type)
    n = 2000
    report = api.import_csv(
        write_csv(tmp_path / "c.csv", n),
        campaign="dlr",
        text="Hi {name}",
        settings=settings_for(redis_url, base, batch_size=250),
        options=api.send_options(intermediate_reports=True),
    )
    assert report.valid == n

    wait_for(
        r,
        "dlr",
        lambda s: sum(s["counts"].get(k, 0) for k in NOT_FINAL) == 0 and s["done_sending"] >= n,
        timeout=120,
    )
    decided = sandbox_state(base, final=1)["final"]
    assert len(decided) == n
    mine = dict(zip(decided, ledger.states(r, list(decided)), strict=True))
    expected = {mid: SANDBOX_TO_STATE[outcome] for mid, outcome in decided.items()}
    assert mine == expected
    st = sandbox_state(base)
    assert st["dlr"], st  # reports were really POSTed (duplicates included)
    pending = {f[b"messageId"] for _, f in r.xrange(keys.OUTCOMES) if f[b"state"] == b"pending"}
    assert len(pending) > n / 2  # most PENDING reports came before their final one
