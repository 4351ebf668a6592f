"""The reports CLI on the real test Redis: sweep, export, status with top errors."""

from __future__ import annotations

import csv
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
import redis

from core import keys, ledger, refs
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import cli
from dispatcher.reports import ingest
from dispatcher.stack import free_port
from providers.reports import DeliveryReport

P = StreamPolicy(maxlen=10_000, final_ttl=3600)


def test_sweep_status_export(
    r: redis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    r.sadd(keys.CAMPAIGNS, "c")
    r.hset(keys.campaign_meta("c"), mapping={"messages": 3, "text": "Hi", "last_line": 4})
    r.hset(keys.campaign_counts("c"), "queued", 3)
    record(
        r,
        [
            Event(f"c-{i}", "c", State.ACCEPTED, "c-b0", f"+668{i}", 1, expires_at=1)
            for i in range(2, 5)
        ],
        P,
    )
    ingest.apply_sync(
        r,
        [
            DeliveryReport(
                "c-2",
                "undeliverable",
                True,
                status_name="UNDEL",
                error_code="27",
                provider="ants",
            )
        ],
        P,
    )
    assert cli.main(["reports", "sweep", "--grace", "0"]) == 0
    assert ledger.state(r, "c-3") == "expired"
    assert cli.main(["status", "c", "--json"]) == 0
    out = tmp_path / "c.csv"
    assert cli.main(["export", "c", "--csv", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert [row[:3] for row in rows[1:]] == [
        ["c-2", "'+6682", "undeliverable"],
        ["c-3", "'+6683", "expired"],
        ["c-4", "'+6684", "expired"],
    ]
    assert cli.main(["export", "nope", "--csv", str(out)]) == 2


def test_relay_moves_outboxes_into_the_stream(
    r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SMS_OUTCOME_OUTBOX", "1")
    r.sadd(keys.CAMPAIGNS, "c")
    record(r, [Event("c-1", "c", State.ACCEPTED)], StreamPolicy(outbox=True))
    assert r.xlen(keys.OUTCOMES) == 0
    assert cli.main(["reports", "relay"]) == 0
    assert r.xlen(keys.OUTCOMES) == 1 and r.xlen(keys.outbox("c")) == 0


CREDENTIALS = (
    "ANTS_USERNAME",
    "ANTS_PASSWORD",
    "ANTS_API_KEY",
    "SMSC_LOGIN",
    "SMSC_PASSWORD",
    "SMSMANAGER_API_KEY",
)


def test_poll_asks_the_configured_providers(
    r: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["reports", "poll", "--once"]) == 2  # nothing configured: nothing to ask
    assert cli.main(["reports", "poll", "--provider", "nope", "--once"]) == 2
    monkeypatch.setenv("SMSC_BASE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("SMSC_LOGIN", "me")
    monkeypatch.setenv("SMSC_PASSWORD", "pw")
    r.sadd(keys.CAMPAIGNS, "c")
    expires = int(time.time() * 1000) + 3_600_000
    taken = Event(
        "c-1", "c", State.ACCEPTED, to="+79000000001", expires_at=expires, provider="smsc"
    )
    record(r, [taken], P)
    place = ledger.place("c-1")
    r.hset(keys.refs("c", place.bucket), place.field, refs.encode("smsc", "b0:79000000001"))
    capsys.readouterr()
    assert cli.main(["reports", "poll", "--once"]) == 1  # the default: smsc, configured
    err = capsys.readouterr().err
    assert "smsc: asked about 0" in err and "GatewayConnectError" in err, err
    assert ledger.state(r, "c-1") == "accepted"


class AntsReports(BaseHTTPRequestHandler):
    """GET /sms/1/reports hands out `pages` once each; GET /sms/1/logs knows `c-2`."""

    pages: ClassVar[list[list[dict[str, object]]]] = []

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/sms/1/reports":
            results = self.pages.pop(0) if self.pages else []
        elif path == "/sms/1/logs":
            results = [delivered("c-2")]
        else:
            self.send_error(404)
            return
        body = orjson.dumps({"results": results})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def delivered(message_id: str) -> dict[str, object]:
    status = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
    return {"messageId": message_id, "to": "66811111111", "status": status}


def test_poll_pulls_the_reports_of_a_provider_that_keeps_them(
    r: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`reports poll` finds ANTS's report source through the registry: its pages are
    pulled and applied; `--logs` asks its message logs; a provider without one has none."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AntsReports)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("REDIS_URL", redis_url)
        monkeypatch.setenv("ANTS_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("ANTS_API_KEY", "k")
        r.sadd(keys.CAMPAIGNS, "c")
        expires = int(time.time() * 1000) + 3_600_000
        record(r, [Event(f"c-{i}", "c", State.ACCEPTED, expires_at=expires) for i in (1, 2)], P)
        monkeypatch.setattr(AntsReports, "pages", [[delivered("c-1")]])
        capsys.readouterr()
        assert cli.main(["reports", "poll", "--provider", "ants", "--once"]) == 0
        assert "ants: 1 reports applied" in capsys.readouterr().err
        assert ledger.state(r, "c-1") == "delivered" and ledger.state(r, "c-2") == "accepted"
        assert cli.main(["reports", "poll", "--provider", "ants", "--logs", "c-2"]) == 0
        assert "ants: 1 reports from its message logs" in capsys.readouterr().err
        assert ledger.state(r, "c-2") == "delivered"
        assert cli.main(["reports", "poll", "--provider", "smsc", "--logs", "c-2"]) == 2
    finally:
        server.shutdown()
        server.server_close()
