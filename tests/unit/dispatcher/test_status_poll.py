"""Delivery states by polling (dispatcher.reports.status_poll) against tiny fake gateways:
SMSC.ru's status.php (mass requests, one a minute) and SmsManager's /RequestStatus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import fakeredis
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import Settings
from core import keys, ledger, optout, refs
from core.outcomes import Event, State, StreamPolicy, arecord, record
from dispatcher.reports import ingest, status_poll
from dispatcher.reports.status_poll import Round, StatusPoller
from providers import registry, status
from providers.smsc.status import MASS_STATUS, split_ref
from providers.smsmanager.status import parse_status_lines, reports_of
from providers.status import Asked

P = StreamPolicy()
CAMPAIGN = "c"
HOUR_MS = 3_600_000


class SmscGateway:
    """POST /sys/status.php: the status of each (id, phone) asked, from `statuses`
    (-3 for the others); every form asked is kept."""

    def __init__(self, statuses: dict[tuple[str, str], int], error: int = 0) -> None:
        self.statuses, self.error = statuses, error
        self.forms: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sys/status.php", self.status)
        return app

    async def status(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.forms.append({k: str(v) for k, v in form.items()})
        if self.error:
            return web.json_response({"error": "too many", "error_code": self.error})
        ids, phones = str(form["id"]).split(","), str(form["phone"]).split(",")
        records = [
            {"id": sid, "phone": phone, "status": self.statuses.get((sid, phone), -3), "err": 0}
            for sid, phone in zip(ids, phones, strict=True)
            if sid and phone
        ]
        return web.json_response(records)


class SmsManagerGateway:
    """GET /RequestStatus?requestid=: the lines of `requests[requestid]`; each id asked kept."""

    def __init__(self, requests: dict[str, list[str]]) -> None:
        self.requests = requests
        self.asked: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/RequestStatus", self.status)
        return app

    async def status(self, request: web.Request) -> web.Response:
        assert request.query["apikey"] == "k3y"
        self.asked.append(request.query["requestid"])
        return web.Response(text="\n".join(self.requests.get(request.query["requestid"], [])))


Use = Callable[[StatusPoller], Awaitable[Any]]


class Sleeps:
    """Stands for asyncio.sleep: keeps each wait, and lets the limiter's minute pass."""

    def __init__(self, client: Any, provider: str) -> None:
        self.client, self.provider, self.waits = client, provider, list[float]()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.client.delete(keys.gcra(self.provider + status.LIMIT_SUFFIX))


def run(server: fakeredis.FakeServer, gateway: Any, provider: str, use: Use) -> Any:
    async def go() -> Any:
        client = fakeredis.FakeAsyncRedis(server=server)
        async with TestServer(gateway.app()) as srv, aiohttp.ClientSession() as session:
            base = str(srv.make_url("")).rstrip("/")
            settings = Settings(
                smsc_base_url=base,
                smsc_login="me",
                smsc_password="pw",
                smsmanager_base_url=base,
                smsmanager_api_key="k3y",
            )
            poller = StatusPoller(
                client, session, settings, provider, sleep=Sleeps(client, provider)
            )
            try:
                return await use(poller)
            finally:
                await client.aclose()

    return asyncio.run(go())


def waiting(
    server: fakeredis.FakeServer,
    provider: str,
    messages: dict[str, tuple[str, str]],
    state: State = State.ACCEPTED,
) -> None:
    """Record `messages` (messageId -> (number, ref)) taken by `provider`, their refs kept
    as the worker keeps them (a ref "" keeps none)."""
    sync = fakeredis.FakeRedis(server=server)
    sync.sadd(keys.CAMPAIGNS, CAMPAIGN)
    expires = int(time.time() * 1000) + HOUR_MS
    events = [
        Event(mid, CAMPAIGN, State.ACCEPTED, "c-b0", to, 1, expires_at=expires, provider=provider)
        for mid, (to, _) in messages.items()
    ]
    if state is State.PENDING:
        events += [Event(mid, CAMPAIGN, state, provider=provider) for mid in messages]
    record(sync, events, P)
    kept = {mid: refs.Ref(provider, ref) for mid, (_, ref) in messages.items() if ref}

    async def put() -> None:
        client = fakeredis.FakeAsyncRedis(server=server)
        await refs.aput(client, CAMPAIGN, kept, P.final_ttl)
        await client.aclose()

    asyncio.run(put())


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def sync(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server)


def states(sync: Any, *message_ids: str) -> list[str]:
    return ledger.states(sync, list(message_ids))


def smsc_ref(number: str) -> str:
    return f"b0:{number}"


def test_smsc_one_mass_request_applies_only_what_is_new(
    sync: Any, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = {f"c-{i}": f"7900000000{i}" for i in range(1, 8)}
    waiting(
        server, "smsc", {mid: (f"+{n}", smsc_ref(n)) for mid, n in numbers.items() if mid != "c-7"}
    )
    waiting(server, "smsc", {"c-7": ("+79000000007", "")})  # sent before refs were kept
    waiting(server, "ants", {"c-8": ("+66800000008", smsc_ref("66800000008"))})  # not ours
    waiting(server, "smsc", {"c-9": ("+79000000009", smsc_ref("79000000009"))}, State.PENDING)
    gateway = SmscGateway(
        {
            ("b0", numbers["c-1"]): 1,
            ("b0", numbers["c-2"]): -1,
            ("b0", numbers["c-3"]): 0,
            ("b0", numbers["c-4"]): 20,
            ("b0", numbers["c-5"]): 22,
            ("b0", "79000000009"): 0,
        }
    )
    stream_before = sync.xlen(keys.OUTCOMES)
    recorded: list[str] = []

    async def spy(client: Any, events: list[Event], policy: StreamPolicy) -> int:
        recorded.extend(e.message_id for e in events)
        return await arecord(client, events, policy)

    monkeypatch.setattr(ingest, "arecord", spy)

    done: Round = run(server, gateway, "smsc", lambda p: p.poll_once())

    assert states(sync, *(f"c-{i}" for i in range(1, 10))) == [
        "delivered",
        "accepted",
        "pending",
        "undeliverable",
        "rejected",
        "accepted",
        "accepted",
        "accepted",
        "pending",
    ]
    assert (done.asked, done.applied, done.skipped, done.error) == (7, 4, 1, "")
    assert sync.xlen(keys.OUTCOMES) - stream_before == 4
    assert sorted(recorded) == ["c-1", "c-3", "c-4", "c-5"]  # not -1 (queued), -3, 0 again
    assert sync.llen(keys.REPORTS_BAD) == 0  # our messageIds: never translated again
    assert optout.check(sync, ["+79000000005"])[0] is not None  # 22: the number is bad
    [form] = gateway.forms
    asked = list(zip(form["id"].split(",")[:-1], form["phone"].split(",")[:-1], strict=True))
    assert sorted(asked) == sorted(
        [("b0", n) for mid, n in numbers.items() if mid != "c-7"] + [("b0", "79000000009")]
    )
    assert form["id"].endswith(",") and form["phone"].endswith(",")  # the multiple form
    assert (form["fmt"], form["all"], form["login"], form["psw"]) == ("3", "0", "me", "pw")


def test_a_second_round_changes_nothing(sync: Any, server: Any) -> None:
    waiting(
        server,
        "smsc",
        {
            "c-1": ("+79000000001", smsc_ref("79000000001")),
            "c-2": ("+79000000002", smsc_ref("79000000002")),
        },
    )
    gateway = SmscGateway({("b0", "79000000001"): 1, ("b0", "79000000002"): 0})

    async def twice(poller: StatusPoller) -> tuple[Round, Round]:
        return await poller.poll_once(), await poller.poll_once()

    first, second = run(server, gateway, "smsc", twice)
    assert (first.asked, first.applied) == (2, 2)
    assert (second.asked, second.applied) == (1, 0)  # the delivered one waits no more
    assert states(sync, "c-1", "c-2") == ["delivered", "pending"]


def test_one_mass_request_a_minute_across_pollers(sync: Any, server: Any) -> None:
    messages = {f"c-{i}": (f"+7900000000{i}", smsc_ref(f"7900000000{i}")) for i in range(5)}
    waiting(server, "smsc", messages)
    gateway = SmscGateway({split_ref(ref): 1 for _, ref in messages.values()})

    async def chunked(poller: StatusPoller) -> list[float]:
        await poller.limiter.throughput("smsc:status", MASS_STATUS, 0, [1])  # another process
        poller.reader.refs_per_read = 2  # type: ignore[misc]
        await poller.poll_once()
        return poller.sleep.waits  # type: ignore[attr-defined]

    waits = run(server, gateway, "smsc", chunked)
    assert len(gateway.forms) == 3  # 2 + 2 + 1
    assert len(waits) == 3 and all(55 < w <= 60 for w in waits), waits  # before each of them
    assert states(sync, *messages) == ["delivered"] * 5


def test_a_throttled_round_stops_and_changes_nothing(sync: Any, server: Any) -> None:
    waiting(server, "smsc", {"c-1": ("+79000000001", smsc_ref("79000000001"))})
    done = run(server, SmscGateway({}, error=9), "smsc", lambda p: p.poll_once())
    assert "GatewayThrottled" in done.error and done.asked == 0
    assert states(sync, "c-1") == ["accepted"]


def test_smsmanager_asks_each_request_once(sync: Any, server: Any) -> None:
    waiting(
        server,
        "smsmanager",
        {
            "c-1": ("+420600000001", "1000001"),
            "c-2": ("+420600000002", "1000001"),
            "c-3": ("+420600000003", "1000001"),
            "c-4": ("+420600000004", "1000002"),
            "c-5": ("+420600000005", "1000003"),
            "c-6": ("+420600000006", "77:420600000006"),  # a provider id: not a request id
        },
    )
    gateway = SmsManagerGateway(
        {
            "1000001": ["420600000001|2|1|2", "420600000002|2|1|0", "420600000003|2|1|7"],
            "1000002": ["420600000004|7|1|0"],
            "1000003": ["420600000005|2|1|1"],
        }
    )
    done = run(server, gateway, "smsmanager", lambda p: p.poll_once())
    assert sorted(gateway.asked) == ["1000001", "1000002", "1000003"]
    assert states(sync, *(f"c-{i}" for i in range(1, 7))) == [
        "delivered",
        "accepted",
        "rejected",
        "rejected",
        "pending",
        "accepted",
    ]
    assert (done.asked, done.applied, done.skipped) == (5, 4, 1)
    assert optout.check(sync, ["+420600000003"])[0] is not None  # receipt 7: invalid number
    assert sync.llen(keys.REPORTS_BAD) == 0


def test_smsmanager_lines() -> None:
    lines = parse_status_lines(b"+420600000001|2|1|3\n\n00420600000002|4|0|0\n")
    assert lines == [("420600000001", 2, 3), ("420600000002", 4, 0)]
    asked = [Asked("c-1", "9", "+420600000001"), Asked("c-2", "9", "420600000002")]
    got = {r.message_id: (r.state, r.final, r.status_name) for r in reports_of("9", lines, asked)}
    assert got == {
        "c-1": ("undeliverable", True, "NOT_DELIVERED"),
        "c-2": ("rejected", True, "INVALID"),
    }
    with pytest.raises(Exception, match="unreadable /RequestStatus line"):
        parse_status_lines(b"420600000001|sent")


def test_chunks_keep_a_refs_messages_together() -> None:
    pending = {
        "r1": [Asked("a", "r1", "1")],
        "r2": [Asked("b", "r2", "2"), Asked("c", "r2", "3")],
        "r3": [Asked("d", "r3", "4")],
    }
    assert [a.message_id for a in status_poll._take(pending, 2)] == ["a", "b", "c"]
    assert list(pending) == ["r3"]


def test_every_provider_that_can_be_asked_registers_a_reader() -> None:
    assert [n for n in registry.names() if status_poll.pollable(n)] == ["smsc", "smsmanager"]
