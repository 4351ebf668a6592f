"""The delivery-report webhook: auth, refusals (400/413), both ANTS formats, idempotency, order."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakeredis import FakeServer

from config.settings import Settings
from dispatcher import keys
from dispatcher.errors import ConfigError
from dispatcher.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports.webhook import make_app
from workers.providers.reports import MAX_REPORT_BYTES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
JSON, XML = "application/json", "application/xml"
SETTINGS = Settings(redis_url="redis://unused", webhook_username="ants", webhook_password="s3cret")
AUTH = {"Authorization": "Basic " + base64.b64encode(b"ants:s3cret").decode()}
P = StreamPolicy(maxlen=10_000, final_ttl=3600)

Call = Callable[[TestClient], Awaitable[Any]]


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def results(*items: tuple[str, int, str]) -> bytes:
    """A 2018 callback body: (messageId, groupId, status name) per report."""
    groups = {0: "ACCEPTED", 1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED"}
    return orjson.dumps({"results": [
        {"messageId": m, "to": "66811111111",
         "status": {"groupId": g, "groupName": groups[g], "id": 5, "name": n}}
        for m, g, n in items]})  # fmt: skip


def serve(server: FakeServer, call: Call, settings: Settings = SETTINGS, **kw: Any) -> Any:
    async def go() -> Any:
        app = make_app(settings, client=fakeredis.FakeAsyncRedis(server=server), **kw)
        async with TestClient(TestServer(app)) as client:
            return await call(client)

    return asyncio.run(go())


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def state(server: fakeredis.FakeServer, mid: str) -> str | None:
    raw = fakeredis.FakeRedis(server=server).hget(keys.message(mid), "state")
    return raw.decode() if raw else None


async def post(c: TestClient, data: bytes, ctype: str = JSON, path: str = "/dlr",
               headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    resp = await c.post(path, data=data, headers={"Content-Type": ctype, **(headers or AUTH)})
    return resp.status, await resp.text()


def test_refuses_to_start_without_credentials() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_USERNAME"):
        make_app(Settings(redis_url="redis://x"))


def test_insecure_flag_allows_no_auth(server: fakeredis.FakeServer) -> None:
    status, _ = serve(server, lambda c: post(c, results(("c-1", 3, "DELIVERED")), headers={}),
                      Settings(), insecure_no_auth=True)  # fmt: skip
    assert status == 200 and state(server, "c-1") == "delivered"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic " + base64.b64encode(b"ants:wrong").decode()},
    {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Bearer s3cret"},
])  # fmt: skip
def test_401_without_the_right_credentials(server: fakeredis.FakeServer, headers: dict) -> None:
    async def call(c: TestClient) -> tuple[int, str]:
        resp = await c.post("/dlr", data=results(("c-1", 3, "D")), headers=headers)
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        return resp.status, await resp.text()

    assert serve(server, call)[0] == 401
    assert state(server, "c-1") is None


@pytest.mark.parametrize(("name", "ctype", "why"), [
    ("ants_malformed.json", JSON, "malformed"),
    ("ants_malformed.xml", XML, "malformed"),
    ("ants_truncated.json", JSON, "truncated"),
    ("ants_xxe_file.xml", XML, "DTD"),
    ("ants_xxe_external_dtd.xml", XML, "DTD"),
    ("ants_xxe_parameter_entity.xml", XML, "DTD"),
    ("ants_billion_laughs.xml", XML, "DTD"),
    ("ants_neither_format.json", JSON, "exactly one"),
    ("ants_wrong_type_message_id.json", JSON, "messageId"),
])  # fmt: skip
def test_400_with_the_parsers_reason(
    server: fakeredis.FakeServer, name: str, ctype: str, why: str, caplog: Any
) -> None:
    status, text = serve(server, lambda c: post(c, body(name), ctype))
    assert status == 400 and why in text
    assert any("refused ants report" in r.getMessage() for r in caplog.records)


def test_413_over_the_body_limit(server: fakeredis.FakeServer) -> None:
    big = b'{"results": [' + b" " * MAX_REPORT_BYTES + b"]}"
    assert serve(server, lambda c: post(c, big))[0] == 413


@pytest.mark.parametrize(("name", "ctype", "mid", "expected"), [
    ("ants_2018_reports.json", JSON, None, None),
    ("ants_2018_reports.xml", XML, None, None),
    ("ants_v1_callback.json", JSON, "25501288135972440649", "delivered"),
    ("ants_v1_callback_utf16.xml", "application/xml; charset=utf-16", "25501288135972440649",
     "delivered"),
    ("ants_v1_callback_utf16be_nobom.xml", XML, "25501288135972440650", "delivered"),
    ("ants_v1_callback_utf16_declared_sent_utf8.xml", XML, "25501288135972440650", "delivered"),
    ("ants_2018_callback_mixed.json", JSON, "m-exp", "expired"),
    ("ants_v1_callback_mixed.json", JSON, None, None),
])  # fmt: skip
def test_both_formats_json_and_xml(
    server: fakeredis.FakeServer, name: str, ctype: str, mid: str | None, expected: str | None
) -> None:
    status, text = serve(server, lambda c: post(c, body(name), ctype))
    assert status == 200, text
    answer = orjson.loads(text)
    assert answer["received"] == answer["applied"] > 0
    if mid:
        assert state(server, mid) == expected


def test_duplicates_are_idempotent(server: fakeredis.FakeServer) -> None:
    data = body("ants_2018_callback_mixed.json")

    async def call(c: TestClient) -> list[dict]:
        return [orjson.loads((await post(c, data))[1]) for _ in range(3)]

    first, *again = serve(server, call)
    assert first["applied"] == 5 and all(a["applied"] == 0 for a in again)
    assert fakeredis.FakeRedis(server=server).xlen(keys.OUTCOMES) == 5


def test_out_of_order_and_before_the_worker(server: fakeredis.FakeServer) -> None:
    """Final before pending, and both before the worker's accepted: final stays."""

    async def call(c: TestClient) -> None:
        await post(c, results(("c-1", 3, "DELIVERED_TO_HANDSET")))
        await post(c, results(("c-1", 1, "PENDING_ENROUTE")))
        await post(c, results(("c-2", 1, "PENDING_ENROUTE")))
        await post(c, results(("c-2", 2, "UNDELIVERABLE_NOT_DELIVERED")))

    serve(server, call)
    sync = fakeredis.FakeRedis(server=server)
    assert record(sync, [Event("c-1", "c", State.ACCEPTED, to="66")], P) == 0
    assert state(server, "c-1") == "delivered" and state(server, "c-2") == "undeliverable"


def test_smsmanager_route_post_and_get(server: fakeredis.FakeServer) -> None:
    async def call(c: TestClient) -> list[int]:
        a = await post(c, body("smsmanager_receipt.json"), JSON, "/dlr/smsmanager")
        resp = await c.get("/dlr/smsmanager", params={"id": "c-77", "status": "2"}, headers=AUTH)
        return [a[0], resp.status]

    assert serve(server, call) == [200, 200]
    assert state(server, "c-77") == "delivered"


def test_smsc_route(server: fakeredis.FakeServer) -> None:
    data = body("smsc_fmt3_multi.json")
    status, text = serve(server, lambda c: post(c, data, JSON, "/dlr/smsc?fmt=3"))
    assert status == 200 and orjson.loads(text)["received"] > 0


def test_redis_down_is_503(server: fakeredis.FakeServer) -> None:
    server.connected = False
    status, _ = serve(server, lambda c: post(c, results(("c-1", 3, "D"))))
    assert status == 503


def test_metrics_count_reports_and_refusals_without_auth(server: fakeredis.FakeServer) -> None:
    async def call(c: TestClient) -> str:
        await post(c, results(("c-1", 3, "DELIVERED_TO_HANDSET"), ("c-2", 1, "PENDING_ENROUTE")))
        await post(c, b"{not json")
        resp = await c.get("/metrics")  # scrapers need no credentials
        assert resp.status == 200
        return await resp.text()

    text = serve(server, call)
    assert 'sms_reports_total{provider="ants",state="delivered"} 1.0' in text
    assert 'sms_reports_total{provider="ants",state="pending"} 1.0' in text
    assert 'sms_reports_refused_total{provider="ants"} 1.0' in text
