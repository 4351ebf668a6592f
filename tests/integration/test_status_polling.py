"""Delivery states by polling, end to end: real Redis, real workers, the SMSC.ru sandbox
over HTTP with NO callbacks, and `smsdispatch reports poll --provider smsc --once`.

The sandbox decides each message's outcome when it takes it (delivered, undeliverable
or expired, shown by status.php once its report is due); after one round of polling
every message's state is the sandbox's decision, number by number.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import redis

from core import ledger
from dispatcher import api, cli
from dispatcher.stack import Stack, sandbox_env
from tests.chaos import sandbox_state
from tests.integration.conftest import settings_for, wait_for, write_csv
from tests.integration.test_smsc_provider import WORKER_ENV, accepted_keys

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
