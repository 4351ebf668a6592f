"""The polling fallback against a tiny fake gateway that returns each report only once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import fakeredis
import orjson
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import Settings
from core import keys, ledger
from core.errors import ConfigError, GatewayAuthError
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports import ingest, poller
from dispatcher.reports.poller import Poller
from providers import registry
from providers.pull import ReportSource
from providers.reports import DeliveryReport, Parsed
from tests.unit.sent_kit import in_flight

P = StreamPolicy()


def result(mid: str, group: int = 3) -> dict[str, Any]:
    names = {1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED"}
    status = {"groupId": group, "groupName": names[group], "id": 5, "name": "X"}
    return {"messageId": mid, "to": "66811111111", "status": status}


class Gateway:
    """GET /sms/1/reports pops up to `limit` reports: each is returned once, then forgotten."""

    def __init__(self, reports: list[dict], logs: list[dict] | None = None) -> None:
        self.queue, self.logs, self.auth = list(reports), list(logs or []), ""
        self.requests: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/sms/1/reports", self.reports)
        app.router.add_get("/sms/1/logs", self.log)
        return app

    async def reports(self, request: web.Request) -> web.Response:
        self.auth = request.headers.get("Authorization", "")
        self.requests.append(request.path_qs)
        if self.auth != "App k3y":
            return web.json_response(
                {
                    "requestError": {
                        "serviceException": {"messageId": "UNAUTHORIZED", "text": "bad"}
                    }
                },
                status=401,
            )
        n = int(request.query.get("limit", "50"))
        taken, self.queue = self.queue[:n], self.queue[n:]
        return web.json_response({"results": taken})

    async def log(self, request: web.Request) -> web.Response:
        wanted = request.query["messageId"].split(",")
        return web.json_response({"results": [r for r in self.logs if r["messageId"] in wanted]})


Use = Callable[[Poller, Gateway], Awaitable[Any]]
Connect = Callable[[], Any]
Clients = tuple[Connect, redis.Redis]


def run(gateway: Gateway, connect: Connect, use: Use, api_key: str = "k3y", **kw: Any) -> Any:
    """Run `use` on a Poller (consumer "test") and a fresh async client, in a new loop."""

    async def go() -> Any:
        client = connect()
        async with TestServer(gateway.app()) as srv, aiohttp.ClientSession() as session:
            s = Settings(ants_base_url=str(srv.make_url("")).rstrip("/"), ants_api_key=api_key)
            try:
                return await use(Poller(client, session, s, "ants", consumer="test", **kw), gateway)
            finally:
                await client.aclose()

    return asyncio.run(go())


@pytest.fixture(params=["fakeredis", "redis"])
def clients(request: pytest.FixtureRequest) -> Clients:
    """(async client factory, sync client) on the same data: fakeredis, or the real test db."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        sync = fakeredis.FakeRedis(server=server)
        in_flight(sync, *(f"c-{i}" for i in range(100)))  # sent: reports apply to them
        return lambda: fakeredis.FakeAsyncRedis(server=server), sync
    sync = request.getfixturevalue("r")
    in_flight(sync, *(f"c-{i}" for i in range(100)))
    url = request.getfixturevalue("redis_url")
    return lambda: aioredis.Redis.from_url(url), sync


def ants_source() -> ReportSource:
    factory = registry.get("ants").pull
    assert factory is not None
    return factory(None, Settings())


def states(sync: redis.Redis, n: int) -> list[str]:
    return ledger.states(sync, [f"c-{i}" for i in range(n)])


def test_pulls_until_empty_and_applies_everything(clients: Clients) -> None:
    aclient, sync = clients
    gw = Gateway([result(f"c-{i}") for i in range(25)])
    seen = run(gw, aclient, lambda p, g: p.poll_once(), limit=10)
    assert seen == 25 and gw.queue == []
    assert states(sync, 25) == ["delivered"] * 25
    assert [q.split("?")[1] for q in gw.requests] == ["limit=10"] * 4  # 10, 10, 5, empty
    assert gw.auth == "App k3y"
    assert sync.xlen(keys.REPORTS_STREAM) == 0  # inbox emptied


def test_crash_between_pull_and_apply_loses_nothing(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    aclient, sync = clients
    gw = Gateway([result(f"c-{i}") for i in range(5)])
    real_apply = ingest.apply

    async def crash(*args: Any, **kw: Any) -> int:
        raise RuntimeError("killed after the pull, before the write")

    monkeypatch.setattr(ingest, "apply", crash)
    with pytest.raises(RuntimeError):
        run(gw, aclient, lambda p, g: p.poll_once())
    assert gw.queue == []  # the gateway has forgotten them...
    assert states(sync, 5) == [""] * 5
    assert sync.xlen(keys.REPORTS_STREAM) == 1  # ...but the inbox has the body
    monkeypatch.setattr(ingest, "apply", real_apply)
    assert run(gw, aclient, lambda p, g: p.poll_once()) == 5
    assert states(sync, 5) == ["delivered"] * 5
    assert sync.xlen(keys.REPORTS_STREAM) == 0


def test_a_page_lost_between_the_get_and_the_inbox_is_read_again_from_the_logs(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after GET /sms/1/reports returned a page, before the inbox write: the gateway
    has forgotten it, so the next start asks the logs about every open message."""
    aclient, sync = clients
    for i in range(5):  # what the workers recorded: accepted, waiting for a report
        sync.sadd(keys.CAMPAIGNS, "c")
        record(sync, [Event(f"c-{i}", "c", State.ACCEPTED, expires_at=10**13)], P)
    finals = [result(f"c-{i}") for i in range(5)]
    gw = Gateway(list(finals), logs=finals)

    async def killed(*args: Any, **kw: Any) -> str:
        raise RuntimeError("killed between the GET and the inbox write")

    real_store = Poller.store
    monkeypatch.setattr(Poller, "store", killed)
    with pytest.raises(RuntimeError):
        run(gw, aclient, lambda p, g: p.poll_once())
    assert gw.queue == [] and sync.xlen(keys.REPORTS_STREAM) == 0  # the page is gone...
    monkeypatch.setattr(Poller, "store", real_store)
    assert run(gw, aclient, lambda p, g: p.poll_once()) == 5  # ...and read again from the logs
    assert states(sync, 5) == ["delivered"] * 5
    assert not sync.exists(keys.reports_pulling("test"))


def test_no_lost_pull_no_logs_asked(clients: Clients) -> None:
    aclient, sync = clients
    sync.sadd(keys.CAMPAIGNS, "c")
    record(sync, [Event("c-0", "c", State.ACCEPTED, expires_at=10**13)], P)
    gw = Gateway([result("c-0")])
    run(gw, aclient, lambda p, g: p.poll_once())
    assert not any(q.startswith("/sms/1/logs") for q in gw.requests)


def test_other_consumers_stale_entries_are_claimed(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    aclient, sync = clients
    monkeypatch.setattr(poller, "CLAIM_IDLE_MS", 0)

    async def left_by_another(p: Poller, g: Gateway) -> int:
        await p._ensure_group()
        await p.store(orjson.dumps({"results": [result("c-0")]}), "application/json")
        await p.client.xreadgroup(keys.REPORTS_GROUP, "dead-poller", {keys.REPORTS_STREAM: ">"})
        return await p.poll_once()

    assert run(Gateway([]), aclient, left_by_another) == 1
    assert states(sync, 1) == ["delivered"]


def test_unparseable_body_is_set_aside(clients: Clients) -> None:
    aclient, sync = clients

    async def bad(p: Poller, g: Gateway) -> int:
        await p._ensure_group()
        await p.store(b'{"results": [{"messageId": 5', "application/json")
        return await p.poll_once()

    assert run(Gateway([]), aclient, bad) == 0
    assert sync.llen(keys.REPORTS_BAD) == 1 and sync.xlen(keys.REPORTS_STREAM) == 0
    assert b"malformed" in sync.lindex(keys.REPORTS_BAD, 0)


def test_only_the_bad_records_of_a_page_are_set_aside(clients: Clients) -> None:
    aclient, sync = clients
    bad = {"messageId": "c-1", "status": {"groupId": 9, "id": 5}}
    gw = Gateway([result("c-0"), bad, result("c-2"), {"to": "668"}])
    seen = run(gw, aclient, lambda p, g: p.poll_once(), limit=100)
    assert seen == 2 and gw.queue == []
    assert states(sync, 3) == ["delivered", "", "delivered"]
    assert sync.xlen(keys.REPORTS_STREAM) == 0  # the page left the inbox
    kept = [orjson.loads(e) for e in sync.lrange(keys.REPORTS_BAD, 0, -1)]
    assert [(e["index"], e["field"]) for e in kept] == [
        (1, "results[1].status.groupId"),
        (3, "results[3].status"),
    ]
    assert all(e["id"] and e["provider"] == "ants" and e["reason"] for e in kept)
    assert orjson.loads(kept[0]["record"]) == bad
    assert all("body" not in e for e in kept)  # the records, not the whole page


def test_a_page_of_only_bad_records_does_not_stop_the_pull(clients: Clients) -> None:
    aclient, sync = clients
    gw = Gateway([{"messageId": f"x-{i}"} for i in range(3)] + [result("c-0")])
    seen = run(gw, aclient, lambda p, g: p.poll_once(), limit=3)
    assert seen == 1 and gw.queue == []
    assert states(sync, 1) == ["delivered"] and sync.llen(keys.REPORTS_BAD) == 3


def test_bad_record_entries_are_capped(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    aclient, sync = clients
    monkeypatch.setattr(poller, "BAD_KEEP", 4)
    gw = Gateway([{"messageId": f"x-{i}"} for i in range(10)])
    run(gw, aclient, lambda p, g: p.poll_once(), limit=100)
    assert sync.llen(keys.REPORTS_BAD) == 4


def test_count_counts_good_and_bad_records() -> None:
    source = ants_source()
    page = orjson.dumps({"results": [result("c-0"), {"messageId": "c-1"}]})
    assert poller._count(source, page, "application/json") == 2
    assert poller._count(source, b'{"results": []}', "application/json") == 0
    assert poller._count(source, b"{oops", "application/json") == -1


def test_bad_credentials_are_fatal_and_store_nothing(clients: Clients) -> None:
    aclient, sync = clients
    gw = Gateway([result("c-0")])
    with pytest.raises(GatewayAuthError):
        run(gw, aclient, lambda p, g: p.poll_once(), api_key="wrong")
    assert sync.xlen(keys.REPORTS_STREAM) == 0 and gw.queue


def test_logs_lookup_for_stragglers(clients: Clients) -> None:
    aclient, sync = clients
    gw = Gateway([], logs=[result("c-0", 2), result("c-1", 1), result("c-2")])
    assert run(gw, aclient, lambda p, g: p.logs(["c-0", "c-1"])) == 2
    assert states(sync, 3) == ["undeliverable", "pending", ""]


class Tagged:
    """Another gateway's report source: a page is the messageIds it delivered, one a line."""

    logs_chunk = 10

    def __init__(self, session: Any, settings: Settings) -> None:
        pass

    async def pull(self, limit: int) -> tuple[bytes, str]:
        return b"", "text/plain"

    def parse(self, body: bytes, content_type: str) -> Parsed:
        ids = body.decode().split()
        return Parsed([DeliveryReport(i, "delivered", True, provider="other") for i in ids])

    async def logs(self, message_ids: Any) -> Any:
        return
        yield


def test_an_inbox_entry_is_read_by_the_source_of_the_provider_it_names(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page stays its provider's: drained by another provider's poller, it is parsed by
    the source its entry names; an entry written before entries named one is the
    poller's own, and one naming a provider without a source is set aside."""
    aclient, sync = clients
    other = dataclasses.replace(registry.get("ants"), name="other", pull=Tagged)
    monkeypatch.setitem(registry._SPECS, "other", other)

    async def mixed(p: Poller, g: Gateway) -> int:
        await p._ensure_group()
        await p.client.xadd(keys.REPORTS_STREAM, {"body": b"c-0 c-1", "provider": "other"})
        untagged = orjson.dumps({"results": [result("c-2")]})
        await p.client.xadd(keys.REPORTS_STREAM, {"body": untagged, "ctype": "application/json"})
        await p.client.xadd(keys.REPORTS_STREAM, {"body": b"c-3", "provider": "smsc"})
        return await p.poll_once()

    assert run(Gateway([]), aclient, mixed) == 3
    assert states(sync, 4) == ["delivered", "delivered", "delivered", ""]
    assert sync.xlen(keys.REPORTS_STREAM) == 0
    (kept,) = [orjson.loads(e) for e in sync.lrange(keys.REPORTS_BAD, 0, -1)]
    assert "smsc" in kept["reason"]


def test_the_poller_stores_the_name_of_its_provider_with_each_page(clients: Clients) -> None:
    aclient, sync = clients
    sync.xgroup_create(keys.REPORTS_STREAM, keys.REPORTS_GROUP, id="0", mkstream=True)

    async def crash_before_apply(p: Poller, g: Gateway) -> str:
        return await p.store(orjson.dumps({"results": [result("c-0")]}), "application/json")

    entry = run(Gateway([]), aclient, crash_before_apply)
    ((_, fields),) = sync.xrange(keys.REPORTS_STREAM, entry, entry)
    assert fields[b"provider"] == b"ants"


def test_a_provider_without_a_report_source_cannot_be_pulled() -> None:
    assert poller.pullable("ants") and not poller.pullable("smsc")
    with pytest.raises(ConfigError):
        Poller(None, None, Settings(), "smsc")  # type: ignore[arg-type]
