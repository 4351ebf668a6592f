"""`smsdispatch unknown` on the real test Redis: messages held unknown are listed, exported
and counted as such, never swept to expired, and resent or dropped only by an operator."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import orjson
import pytest
import redis

from core import keys, ledger
from core.batch import Batch, Destination
from core.outcomes import Event, State, StreamPolicy, record
from core.unknown import entries
from dispatcher import audit, cli

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
IDS = [f"k-{i}" for i in range(2, 5)]


def test_unknown_list_export_status_resend_drop(
    r: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    r.sadd(keys.CAMPAIGNS, "k")
    r.hset(keys.campaign_meta("k"), mapping={"messages": 4, "text": "Hi", "last_line": 5})
    r.hset(keys.campaign_counts("k"), "queued", 4)
    dests = [Destination(mid, f"42060000000{i}") for i, mid in enumerate(IDS)]
    batch = Batch("k", 0, "k-b0", "Shop", "Hi", tuple(dests), int(time.time() * 1000) + 60_000)
    r.hset(keys.campaign_unknown("k"), mapping=entries(batch, dests, "timed out", 1))
    record(r, [Event(d.message_id, "k", State.UNKNOWN, "k-b0", d.to, 1) for d in dests], P)
    record(r, [Event("k-5", "k", State.ACCEPTED, "k-b0", "4206", 1, expires_at=1)], P)

    assert cli.main(["reports", "sweep", "--grace", "0"]) == 0
    assert ledger.states(r, [*IDS, "k-5"], "k") == ["unknown"] * 3 + ["expired"]
    capsys.readouterr()
    assert cli.main(["unknown", "list", "k"]) == 0
    listed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["messageId"] for row in listed] == IDS
    assert cli.main(["status", "k"]) == 0
    assert "unknown: 3 held" in capsys.readouterr().err  # rich prints to stderr
    out = tmp_path / "k.csv"
    assert cli.main(["export", "k", "--csv", str(out)]) == 0
    states = {row[0]: row[2] for row in list(csv.reader(out.open()))[1:]}
    assert states == {"k-2": "unknown", "k-3": "unknown", "k-4": "unknown", "k-5": "expired"}

    assert cli.main(["unknown", "resend", "k", "k-3"]) == 0
    assert r.llen("dramatiq:campaign") == 1
    assert cli.main(["unknown", "drop", "k"]) == 0
    assert ledger.states(r, IDS, "k") == ["canceled", "queued", "canceled"]
    assert cli.main(["unknown", "list", "nope"]) == 2  # a campaign never imported

    capsys.readouterr()
    assert cli.main(["audit", "--campaign", "k"]) == 0
    trail = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["who"], e["action"]) for e in trail] == [
        (audit.cli_user(), "unknown drop"),
        (audit.cli_user(), "unknown resend"),
    ]
    assert cli.main(["audit", "--limit", "0"]) == 2
