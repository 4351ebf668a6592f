"""Message options end to end (issue 23, item 4): a Turkish campaign with flash, the
Turkish single shift and intermediate reports goes through real workers to the ANTS
sandbox, which gets every option on every message and bills the parts our plan counted
(a gateway without them: tests/unit/workers/test_message_options.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import redis

from core.gsm_national import Language
from core.options import SendOptions
from dispatcher import api
from dispatcher.stack import Stack
from tests.integration.conftest import assert_sent_once, sandbox_state, settings_for, wait_for

pytestmark = pytest.mark.integration
ROWS = 30
TEXT = "Sayın {name}, siparişiniz yola çıktı; teşekkürler, iyi günler dileriz!"  # ş ğ ı ç


def test_options_arrive_at_the_sandbox_and_parts_match_the_plan(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    stack.workers(processes=1, threads=2)
    path = tmp_path / "tr.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "name"])
        for i in range(ROWS):
            w.writerow([f"08123{i:05d}", "Ayşe Gül " * (i % 12)])  # one part to two
    settings = settings_for(redis_url, base, batch_size=10)
    options = SendOptions(True, "", Language("TR", single_shift=True), True)
    planned = api.plan_csv(path, text=TEXT, settings=settings, options=options)
    assert planned.encoding == "GSM7" and {g.split("|")[2] for g in planned.groups} == {"1", "2"}
    report = api.import_csv(path, campaign="tr", text=TEXT, settings=settings, options=options)
    assert report.valid == ROWS
    wait_for(r, "tr", lambda s: s["done_sending"] >= ROWS)
    expected = {f"tr-{line}" for line in range(2, ROWS + 2)}
    assert_sent_once(base, expected)
    asked = {
        "flash": True,
        "language": {"languageCode": "TR", "singleShift": True, "lockingShift": False},
        "intermediateReport": True,
    }
    assert sandbox_state(base, options=1)["options"] == dict.fromkeys(expected, asked)
    assert sandbox_state(base)["acceptedParts"] == planned.recipients_parts
