"""Delivery states by polling, end to end: real Redis, real workers, a sandbox over HTTP
with NO callbacks, and `smsdispatch reports poll --provider P --once`.

The sandbox decides each message's outcome when it takes it (delivered, undeliverable
or expired, shown once its report is due: by SMSC.ru's status.php, by SmsManager's
/RequestStatus per request id); once polling finds nothing open every message's state
is the sandbox's decision, number by number.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import pytest
import redis

from core import keys, ledger
from dispatcher import api, cli
from dispatcher.stack import Stack, sandbox_env
from tests.chaos import sandbox_state
from tests.integration.conftest import settings_for, wait_for, write_csv
from tests.integration.test_smsc_provider import WORKER_ENV, accepted_keys
from tests.integration.test_smsmanager_provider import WORKER_ENV as SMSMANAGER_ENV

pytestmark = pytest.mark.integration

DLR_DELAY_MS = 300
OUTCOMES = {"DELIVERED": 0.6, "UNDELIVERABLE": 0.2, "EXPIRED": 0.2}


def test_smsc_states_by_polling_match_the_gateway(
    r: redis.Redis,
    redis_url: str,
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = {"dlr": {"delay_ms": DLR_DELAY_MS, "outcomes": OUTCOMES}}
    base = stack.sandbox(provider="smsc", SANDBOX_CONFIG=orjson.dumps(config).decode())
    stack.workers(processes=1, threads=4, **WORKER_ENV)
    n = 300
    settings = settings_for(redis_url, base, batch_size=50)
    csv = write_csv(tmp_path / "poll.csv", n)
    report = api.import_csv(
        csv, campaign="poll", text="Hi {name}", settings=settings, provider="smsc"
    )
    assert report.valid == n
    wait_for(r, "poll", lambda s: s["done_sending"] >= n, timeout=120)
    time.sleep(2 * DLR_DELAY_MS / 1000)  # every report due: status.php shows it
    sent = accepted_keys(r, "poll")  # messageId -> `{id}:{number}`, as the sandbox names it
    assert len(sent) == n and set(ledger.states(r, list(sent))) == {"accepted"}

    for name, value in {"REDIS_URL": redis_url, **sandbox_env("smsc", base)}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["reports", "poll", "--provider", "smsc", "--once"]) == 0
    assert f"smsc: asked about {n}, {n} reports applied" in capsys.readouterr().err  # console

    decided = sandbox_state(base, final=1)["final"]
    ours = dict(zip(sent, ledger.states(r, list(sent)), strict=True))
    assert {mid: ours[mid] for mid in sent} == {
        mid: decided[key].lower() for mid, key in sent.items()
    }
    assert set(ours.values()) == {"delivered", "undeliverable", "expired"}
    sb = sandbox_state(base)
    assert sb["requests"]["/sys/status.php"] == 1  # one mass request for all of them
    assert "ERROR_9" not in sb["statuses"], sb["statuses"]


ROUND = re.compile(r"smsmanager: asked about (\d+), (\d+) reports applied, (\d+) without")


def test_smsmanager_states_by_polling_match_the_gateway(
    r: redis.Redis,
    redis_url: str,
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A shared text (one HTTP /Send per batch) and a personalised one (one XML document
    per batch); receipts due at different times, some after an intermediate receipt:
    polled round after round until no message is open."""
    dlr = {
        "delay_ms": DLR_DELAY_MS,
        "jitter_ms": DLR_DELAY_MS,
        "delayed_share": 0.2,
        "delayed_extra_ms": 1000,
        "intermediate_share": 0.3,
        "outcomes": OUTCOMES,
    }
    base = stack.sandbox(provider="smsmanager", SANDBOX_CONFIG=orjson.dumps({"dlr": dlr}).decode())
    stack.workers(processes=1, threads=4, **SMSMANAGER_ENV)
    n, batch_size = 150, 50
    settings = settings_for(redis_url, base, batch_size=batch_size)
    for campaign, text, start in (("shared", "Hi all", 0), ("named", "Hi {name}", n)):
        csv = write_csv(tmp_path / f"{campaign}.csv", n, start=start)
        report = api.import_csv(
            csv, campaign=campaign, text=text, settings=settings, provider="smsmanager"
        )
        assert report.valid == n
    for campaign in ("shared", "named"):
        wait_for(r, campaign, lambda s: s["done_sending"] >= n, timeout=120)
    sb = sandbox_state(base)
    assert sb["requests"]["/Send"] == sb["requests"]["/Send XMLDATA"] == n // batch_size

    for name, value in {"REDIS_URL": redis_url, **sandbox_env("smsmanager", base)}.items():
        monkeypatch.setenv(name, value)
    rounds: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + 30
    while not rounds or rounds[-1][0]:  # until a round finds nothing open
        assert time.monotonic() < deadline, rounds
        assert cli.main(["reports", "poll", "--provider", "smsmanager", "--once"]) == 0
        found = ROUND.search(capsys.readouterr().err)
        assert found, "no round printed"
        rounds.append((int(found[1]), int(found[2]), int(found[3])))
        time.sleep(DLR_DELAY_MS / 1000)
    assert rounds[0][0] == 2 * n and {skipped for *_, skipped in rounds} == {0}, rounds

    # the message's id at SmsManager, `{customid}:{number}` -> ours (kept by the worker)
    decided = sandbox_state(base, final=1)["final"]
    ours = {key: r.get(keys.provider_id("smsmanager", key)) for key in decided}
    sent = {mid.decode(): key for key, mid in ours.items() if mid is not None}
    assert len(sent) == len(decided) == 2 * n
    states = dict(zip(sent, ledger.states(r, list(sent)), strict=True))
    assert states == {mid: decided[key].lower() for mid, key in sent.items()}
    assert set(states.values()) == {"delivered", "undeliverable", "expired"}
