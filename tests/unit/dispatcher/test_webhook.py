"""The delivery-report webhook: auth, refusals (400/413), both ANTS formats, idempotency, order,
bad records refused one by one, back-pressure and 503s with Retry-After."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import fakeredis
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakeredis import FakeServer

from config.settings import Settings
from core import keys, ledger
from core.errors import ConfigError
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import problems
from dispatcher.reports import ingest, webhook
from dispatcher.reports.webhook import make_app
from providers import registry
from providers.reports import MAX_REPORT_BYTES
from tests.unit.sent_kit import in_flight

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
JSON, XML = "application/json", "application/xml"
PROBLEM = "application/problem+json"
SETTINGS = Settings(redis_url="redis://unused", webhook_username="ants", webhook_password="s3cret")
AUTH = {"Authorization": "Basic " + base64.b64encode(b"ants:s3cret").decode()}
P = StreamPolicy(maxlen=10_000, final_ttl=3600)

Call = Callable[[TestClient], Awaitable[Any]]


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def results(*items: tuple[str, int, str]) -> bytes:
    """A 2018 callback body: (messageId, groupId, status name) per report."""
    groups = {0: "ACCEPTED", 1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED"}
    return orjson.dumps(
        {
            "results": [
                {
                    "messageId": m,
                    "to": "66811111111",
                    "status": {"groupId": g, "groupName": groups[g], "id": 5, "name": n},
                }
                for m, g, n in items
            ]
        }
    )


def serve(server: FakeServer, call: Call, settings: Settings = SETTINGS, **kw: Any) -> Any:
    async def go() -> Any:
        app = make_app(settings, client=fakeredis.FakeAsyncRedis(server=server), **kw)
        async with TestClient(TestServer(app)) as client:
            return await call(client)

    return asyncio.run(go())


IN_FLIGHT = [f"c-{i}" for i in range(100)]


@pytest.fixture
def server() -> fakeredis.FakeServer:
    """Redis where messages c-0 to c-99 have their requests out (a send claim each): a
    report is applied only to a message we sent."""
    server = fakeredis.FakeServer()
    in_flight(fakeredis.FakeRedis(server=server), *IN_FLIGHT)
    return server


def sent_in(server: fakeredis.FakeServer, data: bytes, ctype: str) -> None:
    """The messages an ANTS body names were sent (claimed)."""
    mids = [r.message_id for r in ingest.parse("ants", data, ctype).reports]
    in_flight(fakeredis.FakeRedis(server=server), *mids)


def state(server: fakeredis.FakeServer, mid: str) -> str | None:
    return ledger.state(fakeredis.FakeRedis(server=server), mid) or None


async def post(
    c: TestClient,
    data: bytes,
    ctype: str = JSON,
    path: str = "/dlr",
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    resp = await c.post(path, data=data, headers={"Content-Type": ctype, **(headers or AUTH)})
    return resp.status, await resp.text()


def test_refuses_to_start_without_credentials() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_USERNAME"):
        make_app(Settings(redis_url="redis://x"))


def test_insecure_flag_allows_no_auth(server: fakeredis.FakeServer) -> None:
    status, _ = serve(
        server,
        lambda c: post(c, results(("c-1", 3, "DELIVERED")), headers={}),
        Settings(),
        insecure_no_auth=True,
    )
    assert status == 200 and state(server, "c-1") == "delivered"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"ants:wrong").decode()},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Bearer s3cret"},
    ],
)
def test_401_without_the_right_credentials(server: fakeredis.FakeServer, headers: dict) -> None:
    async def call(c: TestClient) -> tuple[int, str]:
        resp = await c.post("/dlr", data=results(("c-1", 3, "D")), headers=headers)
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        return resp.status, await resp.text()

    assert serve(server, call)[0] == 401
    assert state(server, "c-1") is None


@pytest.mark.parametrize(
    ("name", "ctype", "why"),
    [
        ("ants_malformed.json", JSON, "malformed"),
        ("ants_malformed.xml", XML, "malformed"),
        ("ants_truncated.json", JSON, "truncated"),
        ("ants_xxe_file.xml", XML, "DTD"),
        ("ants_xxe_external_dtd.xml", XML, "DTD"),
        ("ants_xxe_parameter_entity.xml", XML, "DTD"),
        ("ants_billion_laughs.xml", XML, "DTD"),
        ("ants_neither_format.json", JSON, "exactly one"),
        ("ants_wrong_type_details.json", JSON, "details"),
        ("ants_top_level_array.json", JSON, "object"),
        ("ants_unknown_group.json", JSON, "unknown status group 9"),  # its only record is bad
        ("ants_missing_message_id.xml", XML, "messageId"),  # its only record is bad
    ],
)
def test_400_with_the_parsers_reason(
    server: fakeredis.FakeServer, name: str, ctype: str, why: str, caplog: Any
) -> None:
    async def call(c: TestClient) -> tuple[int, str, bytes]:
        resp = await c.post("/dlr", data=body(name), headers={"Content-Type": ctype, **AUTH})
        return resp.status, resp.headers["Content-Type"], await resp.read()

    status, ctype_out, raw = serve(server, call)
    problem = orjson.loads(raw)
    assert status == 400 and ctype_out.startswith(PROBLEM)
    assert {k: problem[k] for k in ("type", "title", "status")} == {
        "type": "about:blank",
        "title": "report refused",
        "status": 400,
    }
    assert why in problem["detail"]
    assert any("refused ants report" in r.getMessage() for r in caplog.records)
    kept = bad_entries(server)
    assert kept and kept[-1]["provider"] == "ants" and "body" in kept[-1]


def test_413_over_the_body_limit(server: fakeredis.FakeServer) -> None:
    big = b'{"results": [' + b" " * MAX_REPORT_BYTES + b"]}"
    assert serve(server, lambda c: post(c, big))[0] == 413


@pytest.mark.parametrize(
    ("name", "ctype", "mid", "expected"),
    [
        ("ants_2018_reports.json", JSON, None, None),
        ("ants_2018_reports.xml", XML, None, None),
        ("ants_v1_callback.json", JSON, "25501288135972440649", "delivered"),
        (
            "ants_v1_callback_utf16.xml",
            "application/xml; charset=utf-16",
            "25501288135972440649",
            "delivered",
        ),
        ("ants_v1_callback_utf16be_nobom.xml", XML, "25501288135972440650", "delivered"),
        ("ants_v1_callback_utf16_declared_sent_utf8.xml", XML, "25501288135972440650", "delivered"),
        ("ants_2018_callback_mixed.json", JSON, "m-exp", "expired"),
        ("ants_v1_callback_mixed.json", JSON, None, None),
    ],
)
def test_both_formats_json_and_xml(
    server: fakeredis.FakeServer, name: str, ctype: str, mid: str | None, expected: str | None
) -> None:
    sent_in(server, body(name), ctype)
    status, text = serve(server, lambda c: post(c, body(name), ctype))
    assert status == 200, text
    answer = orjson.loads(text)
    assert answer["received"] == answer["applied"] > 0
    if mid:
        assert state(server, mid) == expected


def test_duplicates_are_idempotent(server: fakeredis.FakeServer) -> None:
    data = body("ants_2018_callback_mixed.json")
    sent_in(server, data, JSON)

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


def known_as(
    server: fakeredis.FakeServer,
    provider: str,
    data: bytes,
    ctype: str,
    query: dict[str, str],
    *mids: str,
) -> None:
    """What the worker keeps for gateways with ids of their own: each id -> our messageId."""
    parsed = ingest.parse(provider, data, ctype, query)
    sync = fakeredis.FakeRedis(server=server)
    for report, mid in zip(parsed.reports, mids, strict=False):
        sync.set(keys.provider_id(provider, report.message_id), mid)


def test_smsmanager_route_post_and_get(server: fakeredis.FakeServer) -> None:
    known_as(server, "smsmanager", body("smsmanager_receipt.json"), JSON, {}, "c-76")
    known_as(server, "smsmanager", b"", "", {"id": "c-77", "status": "2"}, "c-77")

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


def test_a_report_for_an_id_we_never_gave_is_kept_not_applied(
    server: fakeredis.FakeServer,
) -> None:
    """SmsManager names a message its own way; a receipt for one we never sent (no
    mapping) changes no message and is kept with its reason; the one we know is applied."""
    query = {"id": "c-77", "status": "2"}
    known_as(server, "smsmanager", b"", "", query, "c-5")
    other = {"id": "someone-else", "status": "2"}

    async def call(c: TestClient) -> list[Any]:
        out = []
        for q in (query, other):
            resp = await c.get("/dlr/smsmanager", params=q, headers=AUTH)
            out.append((resp.status, orjson.loads(await resp.read())["applied"]))
        return out

    assert serve(server, call) == [(200, 1), (200, 0)]
    assert state(server, "c-5") == "delivered"
    [kept] = bad_entries(server)
    assert (kept["provider"], kept["id"]) == ("smsmanager", "someone-else")
    assert kept["reason"].startswith("no message of ours has this id")


def test_a_report_for_a_message_we_never_sent_creates_nothing(
    server: fakeredis.FakeServer,
) -> None:
    """Issue 20: a report naming an unknown campaign was answered 200 and created
    `sms:c:{nope}:...` keys.  It is answered 200 (applied 0: the gateway need not send it
    again), kept in sms:reports:bad with its reason, and writes nothing else."""
    data = results(("nope-1", 3, "DELIVERED_TO_HANDSET"), ("c-1", 3, "DELIVERED_TO_HANDSET"))
    status, _, answer = serve(server, lambda c: post_full(c, data))
    assert status == 200
    assert (answer["received"], answer["applied"], answer["refused"]) == (2, 1, [])
    sync = fakeredis.FakeRedis(server=server)
    assert sync.keys("sms:c:{nope}*") == [] and state(server, "c-1") == "delivered"
    [kept] = bad_entries(server)
    assert (kept["id"], kept["reason"]) == ("nope-1", ingest.UNKNOWN_MESSAGE)


async def post_full(
    c: TestClient, data: bytes, ctype: str = JSON, path: str = "/dlr"
) -> tuple[int, dict[str, str], Any]:
    resp = await c.post(path, data=data, headers={"Content-Type": ctype, **AUTH})
    return resp.status, dict(resp.headers), orjson.loads(await resp.read())


def bad_entries(server: fakeredis.FakeServer) -> list[dict[str, Any]]:
    raw = fakeredis.FakeRedis(server=server).lrange(keys.REPORTS_BAD, 0, -1)
    return [orjson.loads(e) for e in raw]


def assert_503_problem(status: int, headers: dict[str, str], problem: Any) -> None:
    assert status == 503
    assert headers["Retry-After"] == str(problems.RETRY_AFTER_S)
    assert headers["Content-Type"].startswith(PROBLEM)
    assert problem["status"] == 503 and problem["type"] == "about:blank" and problem["detail"]


def test_redis_down_is_503_with_retry_after(server: fakeredis.FakeServer) -> None:
    server.connected = False
    answer = serve(server, lambda c: post_full(c, results(("c-1", 3, "D"))))
    assert_503_problem(*answer)


def test_no_file_descriptor_for_a_redis_connection_is_503_too(
    server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def emfile(*args: Any, **kw: Any) -> int:
        raise OSError(24, "Too many open files")  # what redis-py lets through in a burst

    monkeypatch.setattr(ingest, "apply", emfile)
    answer = serve(server, lambda c: post_full(c, results(("c-1", 3, "D"))))
    assert_503_problem(*answer)


def test_redis_down_does_not_turn_a_bad_body_into_a_503(server: fakeredis.FakeServer) -> None:
    server.connected = False
    status, headers, problem = serve(server, lambda c: post_full(c, b"{not json"))
    assert status == 400 and problem["status"] == 400 and "Retry-After" not in headers


# -- one bad record does not cost the good ones -------------------------------------------

_G2018 = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
ONE_GOOD_ONE_BAD = {
    "ants 2018 json": (
        "/dlr",
        JSON,
        orjson.dumps(
            {
                "results": [
                    {"messageId": "c-1", "status": _G2018},
                    {"messageId": "c-2", "status": {"groupId": 9, "id": 5}},
                ]
            }
        ),
    ),
    "ants 2018 xml": (
        "/dlr",
        XML,
        b"<reportResponse><results>"
        b"<result><messageId>c-1</messageId><status><groupId>3</groupId></status></result>"
        b"<result><messageId>c-2</messageId><smsCount>two</smsCount>"
        b"<status><groupId>3</groupId></status></result></results></reportResponse>",
    ),
    "ants v1 json": (
        "/dlr",
        JSON,
        orjson.dumps(
            {
                "bulkId": "b",
                "details": [
                    {"messageId": "c-1", "status": {"code": "000", "name": "DELIVERED"}},
                    {"messageId": "c-2", "status": {"code": "999", "name": "MYSTERY"}},
                ],
            }
        ),
    ),
    "ants v1 xml": (
        "/dlr",
        XML,
        b"<CALLBACK><bulkId>b</bulkId><details>"
        b"<detail><messageId>c-1</messageId><status><code>000</code></status></detail>"
        b"<detail><to>66811111111</to><status><code>000</code></status></detail>"
        b"</details></CALLBACK>",
    ),
    "smsmanager json": (
        "/dlr/smsmanager",
        JSON,
        b'[{"id": "c-1", "status": 2}, {"id": "c-2", "status": 42}]',
    ),
    "smsmanager xml": (
        "/dlr/smsmanager",
        XML,
        b'<Receipts><Receipt ID="c-1" Status="2"/><Receipt ID="c-2" Status="x"/></Receipts>',
    ),
    "smsc fmt0": (
        "/dlr/smsc?fmt=0",
        "text/plain",
        b"Status = 1, err = 0, id = c-1\nStatus = ok, id = c-2",
    ),
    "smsc fmt2": (
        "/dlr/smsc?fmt=2",
        XML,
        b"<list><sms><id>c-1</id><status>1</status></sms><sms><status>1</status></sms></list>",
    ),
    "smsc fmt3": (
        "/dlr/smsc?fmt=3",
        JSON,
        b'[{"id": "c-1", "status": 1}, {"id": "c-2", "status": "delivered"}]',
    ),
}


@pytest.mark.parametrize("case", sorted(ONE_GOOD_ONE_BAD))
def test_one_good_and_one_bad_record_gives_one_applied_and_one_refused(
    server: fakeredis.FakeServer, case: str
) -> None:
    path, ctype, data = ONE_GOOD_ONE_BAD[case]
    provider = path.split("/")[2].split("?")[0] if path != "/dlr" else "ants"
    query = dict(parse_qsl(path.partition("?")[2]))
    if registry.get(provider).own_ids:
        known_as(server, provider, data, ctype, query, "c-1")

    async def call(c: TestClient) -> tuple[tuple[int, dict[str, str], Any], str]:
        answer = await post_full(c, data, ctype, path)
        return answer, await (await c.get("/metrics")).text()

    (status, _, answer), metrics = serve(server, call)
    assert status == 200, answer
    (refused,) = answer.pop("refused")
    assert answer == {"received": 2, "applied": 1, "resent": 0}
    assert refused["index"] == 1 and refused["reason"]
    assert state(server, "c-1") == "delivered" and state(server, "c-2") is None
    (kept,) = bad_entries(server)
    assert (kept["source"], kept["provider"], kept["index"]) == ("webhook", provider, 1)
    assert kept["reason"] and kept["record"] and kept["body"] == data.decode()
    assert f'sms_reports_refused_total{{provider="{provider}"}} 1.0' in metrics


def test_the_body_is_kept_once_per_body_and_capped(server: fakeredis.FakeServer) -> None:
    bad = {"messageId": "c-x", "status": {"groupId": 9}, "callbackData": "x" * 5000}
    data = orjson.dumps({"results": [bad, {"messageId": "c-1", "status": _G2018}, bad]})
    status, _, answer = serve(server, lambda c: post_full(c, data))
    assert status == 200 and [r["index"] for r in answer["refused"]] == [0, 2]
    kept = bad_entries(server)
    assert [e["index"] for e in kept] == [0, 2]
    assert [("body" in e) for e in kept] == [True, False]
    assert len(kept[0]["body"]) == webhook.BAD_BODY_BYTES == 4096
    assert all(len(e["record"]) <= 4096 for e in kept)


def test_only_bad_records_is_a_400_listing_them(server: fakeredis.FakeServer) -> None:
    data = orjson.dumps({"results": [{"messageId": "c-1"}, {"messageId": True, "status": _G2018}]})
    status, headers, problem = serve(server, lambda c: post_full(c, data))
    assert status == 400 and headers["Content-Type"].startswith(PROBLEM)
    assert problem["title"] == "report refused" and "2 records refused" in problem["detail"]
    assert [r["index"] for r in problem["refused"]] == [0, 1]
    assert [e["index"] for e in bad_entries(server)] == [0, 1]


def test_bad_list_is_capped(server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook, "BAD_KEEP", 3)
    data = orjson.dumps(
        {
            "results": [{"messageId": "c-1", "status": _G2018}]
            + [{"messageId": f"c-{i}"} for i in range(2, 7)]
        }
    )
    status, _, answer = serve(server, lambda c: post_full(c, data))
    assert status == 200 and len(answer["refused"]) == 5
    assert len(bad_entries(server)) == 3


def test_storage_down_while_keeping_refused_records_is_503(
    server: fakeredis.FakeServer,
) -> None:
    server.connected = False
    path, ctype, data = ONE_GOOD_ONE_BAD["ants 2018 json"]
    answer = serve(server, lambda c: post_full(c, data, ctype, path))
    assert_503_problem(*answer)


# -- back-pressure ------------------------------------------------------------------------


def test_at_most_max_in_flight_requests_at_once_the_others_wait(
    server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest.apply
    active = peak = 0

    async def counted(*args: Any, **kw: Any) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.02)
            return await real(*args, **kw)
        finally:
            active -= 1

    monkeypatch.setattr(ingest, "apply", counted)

    async def call(c: TestClient) -> list[int]:
        posts = (post(c, results((f"c-{i}", 3, "D"))) for i in range(12))
        return [status for status, _ in await asyncio.gather(*posts)]

    assert serve(server, call, max_in_flight=3, max_wait=10) == [200] * 12
    assert peak == 3
    assert all(state(server, f"c-{i}") == "delivered" for i in range(12))


def test_a_request_that_waits_too_long_is_503_with_retry_after(
    server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest.apply

    async def call(c: TestClient) -> tuple[Any, Any, str]:
        started, release = asyncio.Event(), asyncio.Event()

        async def held(*args: Any, **kw: Any) -> int:
            started.set()
            await release.wait()
            return await real(*args, **kw)

        monkeypatch.setattr(ingest, "apply", held)
        first = asyncio.create_task(post_full(c, results(("c-1", 3, "D"))))
        await started.wait()
        second = await post_full(c, results(("c-2", 3, "D")))
        release.set()
        metrics = await (await c.get("/metrics")).text()
        return await first, second, metrics

    first, second, metrics = serve(server, call, max_in_flight=1, max_wait=0.2)
    assert first[0] == 200
    assert_503_problem(*second)
    assert "1 requests in progress" in second[2]["detail"]
    assert state(server, "c-1") == "delivered" and state(server, "c-2") is None
    assert 'sms_reports_unavailable_total{reason="busy"} 1.0' in metrics


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        make_app(SETTINGS, client=fakeredis.FakeAsyncRedis(), max_in_flight=0)


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
