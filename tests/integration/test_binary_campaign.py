"""Binary campaigns end to end (issue 23): through real workers to the ANTS sandbox, every
payload octet arrives as it was in the CSV; a campaign for SmsManager is refused at import,
naming the reason, with nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from core import keys
from core.errors import InputError
from dispatcher import api
from dispatcher.http import auth
from dispatcher.stack import Stack
from tests.http_kit import Api, api_server
from tests.integration.conftest import assert_sent_once, sandbox_state, settings_for, wait_for

pytestmark = pytest.mark.integration

ROWS = 40
PORTS = bytes.fromhex("0605040b8423f0")  # a user data header: application port addressing


def payload(i: int) -> bytes:
    """Row i's payload: its header, then every octet value 00-FF in turn (rotated by i) and
    a length that grows with i, from one part to three (128 octets a part beside the header)."""
    body = bytes((i + k) % 256 for k in range(100 + 7 * i))
    return PORTS + body


def parts(octets: bytes) -> int:
    """One part up to 140 octets, else 128 of the body a part (beside the 6-octet
    concatenation header and the 6 octets of elements of its own)."""
    return 1 if len(octets) <= 140 else -(-(len(octets) - len(PORTS)) // 128)


def test_every_payload_octet_arrives_intact_through_the_ants_sandbox(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    path = tmp_path / "binary.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "payload"])
        for i in range(ROWS):
            w.writerow([f"08123{i:05d}", payload(i).hex().upper()])
    settings = settings_for(redis_url, base, batch_size=16)
    binary = api.BinaryPayload(column="payload", esm_class=64)
    report = api.import_csv(path, campaign="bin", binary=binary, settings=settings)
    assert (report.valid, report.invalid, report.batches) == (ROWS, 0, 3)
    wait_for(r, "bin", lambda s: s["done_sending"] >= ROWS)
    expected = {f"bin-{line}" for line in range(2, ROWS + 2)}
    assert_sent_once(base, expected)
    arrived = sandbox_state(base, payloads=1)["payloads"]
    assert arrived == {f"bin-{i + 2}": payload(i).hex() for i in range(ROWS)}
    parts = sum(
        -(-(len(payload(i)) - 7) // 128) if len(payload(i)) > 140 else 1 for i in range(ROWS)
    )
    assert sandbox_state(base)["acceptedParts"] == parts


def test_a_binary_campaign_for_smsmanager_is_refused_at_import(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone\n0812345678\n", encoding="utf-8")
    settings = Settings(redis_url=redis_url, smsmanager_api_key="k", provider="smsmanager")
    with pytest.raises(InputError) as refused:
        api.import_csv(
            path, campaign="bin-sm", binary=api.BinaryPayload(hex="0a0b"), settings=settings
        )
    assert (refused.value.field, refused.value.reason) == (
        "provider",
        "gateway smsmanager cannot send binary messages (a hex payload is never sent as text)",
    )
    assert not r.exists(keys.campaign_meta("bin-sm"))
    assert not (tmp_path / "c.csv.rejects.csv").exists()


def test_the_http_api_takes_binary_campaigns(r: redis.Redis, redis_url: str) -> None:
    key = auth.create(r, "binary", "send")
    with api_server(Settings(redis_url=redis_url, ants_username="u", ants_password="p")) as base:
        http = Api(base, key)
        rows = [{"phone": "0812345678", "payload": PORTS.hex() + "ff" * 134}]
        js = {"binary_column": "payload", "esm_class": 64, "recipients": rows}
        plan = http.call("POST", "/v1/campaigns?dry_run=true", js)
        assert plan.status == 200, plan.body
        p = plan.json()
        assert (p["encoding"], p["recipients_parts"], p["binary"]["esm_class"]) == ("BINARY", 2, 64)
        csv_plan = http.call(
            "POST",
            "/v1/campaigns?dry_run=true&binary=0a%200b&data_coding=8",
            b"phone\n0812345678\n",
            content_type="text/csv",
        )
        assert csv_plan.status == 200 and csv_plan.json()["binary"]["data_coding"] == 8
        refused = http.call(
            "POST", "/v1/campaigns", {**js, "campaign": "bin-sm", "provider": "smsmanager"}
        )
        assert refused.status == 400
        assert "gateway smsmanager cannot send binary messages" in refused.json()["detail"]
        assert not r.exists(keys.campaign_meta("bin-sm"))
        bad = http.call("POST", "/v1/campaigns", {**js, "campaign": "b", "esm_class": "x"})
        assert bad.status == 400 and bad.json()["field"] == "esm_class"
