"""The SmsManager sandbox: its HTTP API (the oracle's side), its counting and faults, and
the provider talking to it (send, lookup, the 503 and timeout semantics)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, SubElement, tostring

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from defusedxml.ElementTree import fromstring

from config.settings import Settings, load
from core.batch import Batch, Destination
from core.errors import GatewayServerError, GatewayTimeout
from providers import registry
from providers.base import Action
from providers.smsmanager.sender import custom_id, expiration
from providers.smsmanager.status import SmsManagerStatusReader
from providers.status import Asked
from sandbox import server
from sandbox.gateway import SANDBOX
from sandbox.settings import SandboxSettings
from sandbox.smsmanager import app as smm_app
from sandbox.smsmanager.app import make_app
from sandbox.smsmanager.book import RECEIPTS, SmsManagerSandbox
from sandbox.statuses import OUTCOMES

T = TypeVar("T")
KEY = "sandbox-key"
ANN, BOB, CID_NUMBER = "420777000001", "420777000002", "420777000003"


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


@dataclass
class Kit:
    client: TestClient
    sandbox: SmsManagerSandbox

    async def call(self, method: str, path: str, **fields: str) -> tuple[int, str, Any]:
        if method == "GET":
            ctx = self.client.get(path, params=fields)
        else:
            ctx = self.client.post(path, data=fields)
        async with ctx as resp:
            return resp.status, (await resp.text()), resp.headers

    async def send(self, method: str = "POST", **fields: str) -> tuple[int, str]:
        fields = {"apikey": KEY, **fields}
        status, text, _ = await self.call(method, "/Send", **fields)
        return status, text

    async def send_xml(self, document: str) -> tuple[int, str]:
        status, text, _ = await self.call("POST", "/Send", XMLDATA=document)
        return status, text

    async def get(self, path: str, **fields: str) -> tuple[int, str]:
        status, text, _ = await self.call("GET", path, **{"apikey": KEY, **fields})
        return status, text

    async def control(self, section: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            async with self.client.get(f"/_sandbox/{section}") as resp:
                return orjson.loads(await resp.read())
        async with self.client.post(f"/_sandbox/{section}", data=orjson.dumps(body)) as resp:
            assert resp.status == 200, await resp.text()
            return orjson.loads(await resp.read())


@asynccontextmanager
async def sandbox(settings: SandboxSettings | None = None) -> AsyncIterator[Kit]:
    app = make_app(settings)
    async with TestClient(TestServer(app)) as client:
        sb = app[SANDBOX]
        assert isinstance(sb, SmsManagerSandbox)
        yield Kit(client, sb)


def document(*requests: tuple[dict[str, str], str | None, list[str]], key: str = KEY) -> str:
    """An XML API document: per request its attributes, its text (None: no <Message>) and
    its numbers."""
    root = Element("RequestDocument")
    SubElement(SubElement(root, "RequestHeader"), "Apikey").text = key
    listed = SubElement(root, "RequestList")
    for attributes, text, numbers in requests:
        request = SubElement(listed, "Request", attributes)
        if text is not None:
            SubElement(request, "Message", {"Type": "Text"}).text = text
        numbers_list = SubElement(request, "NumbersList")
        for n in numbers:
            SubElement(numbers_list, "Number").text = n
    return tostring(root, encoding="unicode")


def answered(text: str) -> tuple[str, str, list[tuple[str, str, list[str]]]]:
    """An XML answer: its Response Type and ID, and per ResponseRequest (id, customid,
    numbers)."""
    root = fromstring(text)
    response = root.find("Response")
    assert response is not None, text
    requests = [
        (
            r.findtext("RequestID") or "",
            r.findtext("CustomID") or "",
            [n.text or "" for n in r.iterfind("ResponseNumbersList/Number")],
        )
        for r in root.iterfind("ResponseRequestList/ResponseRequest")
    ]
    return response.get("Type", ""), response.get("ID", ""), requests


# ---------------------------------------------------------------- the API


def test_send_answers_ok_with_the_request_id_numbers_and_customid() -> None:
    async def go() -> None:
        async with sandbox() as k:
            status, text = await k.send(number=f"{ANN},{BOB}", message="Hi", customid="77")
            assert status == 200
            ok, rid, numbers, cid = text.split("|")
            assert (ok, numbers, cid) == ("OK", f"{ANN},{BOB}", "77") and rid.isdigit()
            # GET parameters work too; without a customid the answer has three fields
            status, text = await k.send("GET", number=BOB, message="Hi")
            assert status == 200 and text.count("|") == 2 and text.endswith(f"|{BOB}")
            st = await k.control("state?ids=1")
            assert st["accepted"] == {
                f"77:{ANN}": 1,
                f"77:{BOB}": 1,
                f"{text.split('|')[1]}:{BOB}": 1,
            }
            assert st["destinationsReceived"] == 3 and st["requests"]["/Send"] == 2

    run(go)


def test_numbers_are_read_as_the_gateway_reads_them() -> None:
    async def go() -> None:
        async with sandbox() as k:
            raw = "+420 777-000-001;00420777000002,777000003,12,abc"
            status, text = await k.send(number=raw, message="Hi", customid="1")
            assert status == 200
            assert text.split("|")[2] == f"{ANN},{BOB},{CID_NUMBER}"  # 12 and abc left out
            assert k.sandbox.state.statuses["INVALID_NUMBER"] == 2
            status, text = await k.send(number="12;abc", message="Hi")
            assert (status, text.split("|")[:2]) == (400, ["ERROR", "201"])

    run(go)


def test_the_text_is_plain_utf8() -> None:
    async def go() -> None:
        async with sandbox() as k:
            status, _, headers = await k.call("POST", "/Send", apikey="x", number=ANN, message="a")
            assert status == 401 and headers["Content-Type"] == "text/plain; charset=utf-8"

    run(go)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"apikey": "wrong"}, 401, "103"),
        ({"apikey": ""}, 401, "103"),
        ({"number": None}, 400, "109"),
        ({"message": None}, 400, "109"),
        ({"gateway": "cheap"}, 400, "104"),
        ({"message": ""}, 400, "202"),
        ({"message": "x" * 1001}, 400, "202"),
        ({"sender": "TwelveChars!"}, 400, "203"),
        ({"sender": "two words"}, 400, "203"),
        ({"customid": "12345678901"}, 400, "102"),
        ({"customid": "abc"}, 400, "102"),
        ({"expiration": "tomorrow"}, 400, "102"),
        ({"number": "1,2"}, 400, "201"),
    ],
)
def test_error_codes_and_http_statuses(fields: dict[str, Any], status: int, code: str) -> None:
    async def go() -> None:
        async with sandbox() as k:
            base = {"apikey": KEY, "number": ANN, "message": "Hi"}
            sent = {k_: v for k_, v in {**base, **fields}.items() if v is not None}
            got, text, _ = await k.call("POST", "/Send", **sent)
            assert (got, text.split("|")[:2]) == (status, ["ERROR", code]), text
            assert k.sandbox.state.accepted == {}

    run(go)


def test_valid_values_are_accepted() -> None:
    async def go() -> None:
        async with sandbox() as k:
            for gateway in ("high", "economy", "lowcost", "direct"):
                status, _ = await k.send(
                    number=ANN,
                    message="x" * 1000,
                    gateway=gateway,
                    sender="ElevenChars",
                    customid="9999999999",
                    expiration="2030-01-22T13:00:00",
                )
                assert status == 200

    run(go)


def test_no_credit_is_105_and_nothing_is_sent() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("balance", {"set": 1})
            status, text = await k.send(number=f"{ANN},{BOB}", message="Hi")
            assert (status, text.split("|")[1]) == (402, "105")
            assert k.sandbox.state.accepted == {}
            status, _ = await k.send(number=ANN, message="Hi")  # one part, one credit
            assert status == 200 and (await k.control("state"))["balance"] == 0

    run(go)


def test_request_list_and_status() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("smsmanager", {"queue_s": 60})  # both requests still queued
            _, a = await k.send(
                number=f"{ANN},{BOB}",
                message="Hi",
                sender="Shop",
                customid="5",
                expiration="2030-01-22T13:00:00",
            )
            _, b = await k.send(number=CID_NUMBER, message="Yo", gateway="lowcost")
            rid_a, rid_b = a.split("|")[1], b.split("|")[1]
            status, listed = await k.get("/RequestList")
            assert status == 200
            lines = [line.split("|") for line in listed.splitlines()]
            assert [line[0] for line in lines] == [rid_b, rid_a]  # newest first
            assert [len(line) for line in lines] == [7, 7]
            assert lines[1][1:2] + lines[1][3:] == ["high", "2030-01-22 13:00:00", "Shop", "2", "0"]
            assert lines[0][1] == "lowcost" and lines[0][3] == "" and lines[0][4] == "SmsManager"
            status, numbers = await k.get("/RequestStatus", requestid=rid_a)
            assert [line.split("|") for line in numbers.splitlines()] == [
                [ANN, "0", "1", "0"],
                [BOB, "0", "1", "0"],
            ]
            assert (await k.get("/RequestStatus", requestID=rid_b))[1] == f"{CID_NUMBER}|0|1|0"
            assert await k.get("/RequestStatus", requestid="42") == (200, "")
            status, text = await k.get("/RequestStatus")
            assert (status, text.split("|")[1]) == (400, "109")
            status, text, _ = await k.call("GET", "/RequestList", apikey="nope")
            assert (status, text.split("|")[1]) == (401, "103")
            assert (await k.get("/GetUserInfo"))[1] == "999999997.00|SmsManager|high"

    run(go)


def test_request_list_shows_only_queued_requests_and_by_default_none() -> None:
    async def go() -> None:
        async with sandbox() as k:
            assert await k.control("smsmanager") == {"queue_s": 0.0}
            _, text = await k.send(number=ANN, message="Hi", customid="5")
            rid = text.split("|")[1]
            assert await k.get("/RequestList") == (200, "")  # processed at once: gone
            assert await k.get("/RequestStatus", requestid=rid) == (200, f"{ANN}|2|1|1")
            await k.control("smsmanager", {"queue_s": 0.2})
            _, text = await k.send(number=BOB, message="Hi", customid="6")
            listed = (await k.get("/RequestList"))[1].split("|")
            assert (listed[0], listed[5:]) == (text.split("|")[1], ["1", "0"])
            await asyncio.sleep(0.25)  # processed: it leaves the list
            assert await k.get("/RequestList") == (200, "")
            async with k.client.post("/_sandbox/smsmanager", data=b'{"queue_s": -1}') as resp:
                assert resp.status == 400

    run(go)


# ---------------------------------------------------------------- delivery


def receipts(text: str) -> dict[str, tuple[str, str]]:
    """/RequestStatus: number -> (request state, receipt state)."""
    fields = [line.split("|") for line in text.splitlines()]
    assert all(len(f) == 4 and f[2] == "1" for f in fields), text
    return {number: (state, receipt) for number, state, _, receipt in fields}


def test_request_status_shows_each_numbers_decided_receipt_after_the_report_delay() -> None:
    numbers = [f"42077710{i:04d}" for i in range(24)]

    async def go() -> None:
        async with sandbox() as k:
            outcomes = dict.fromkeys(OUTCOMES, 1.0)
            await k.control("dlr", {"delay_ms": 300, "outcomes": outcomes})
            _, text = await k.send(number=",".join(numbers[:12]), message="Hi", customid="5")
            doc = document(({"CustomID": "6"}, "a", numbers[12:18]), ({}, "b", numbers[18:]))
            _, answer = await k.send_xml(doc)
            rid_xml = {cid: rid for rid, cid, _ in answered(answer)[2]}
            asked = {text.split("|")[1]: ("5", numbers[:12]), rid_xml["6"]: ("6", numbers[12:18])}
            rid = rid_xml[""]  # no customid: the message is named by its request id
            asked[rid] = (rid, numbers[18:])
            for request_id, (_, sent) in asked.items():  # before the delay: delivering
                lines = (await k.get("/RequestStatus", requestid=request_id))[1]
                assert receipts(lines) == dict.fromkeys(sent, ("2", "1"))
            decided = (await k.control("state?final=1"))["final"]
            keys = {f"{name}:{n}" for name, sent in asked.values() for n in sent}
            assert set(decided) == keys == set(k.sandbox.state.accepted)
            assert set(decided.values()) == set(OUTCOMES)
            await asyncio.sleep(0.35)
            for request_id, (name, sent) in asked.items():
                lines = (await k.get("/RequestStatus", requestid=request_id))[1]
                want = {n: ("2", str(RECEIPTS[decided[f"{name}:{n}"]])) for n in sent}
                assert receipts(lines) == want

    run(go)


def test_every_outcome_is_a_final_receipt_of_the_seed() -> None:
    # the seed's receipts: 2 delivered, 3 not delivered, 6 expired, 7 invalid number
    assert RECEIPTS == {
        "DELIVERED": 2,
        "UNDELIVERABLE": 3,
        "EXPIRED": 6,
        "UNDELIVERABLE_PERMANENT": 7,
    }
    assert set(RECEIPTS) == set(OUTCOMES)  # every outcome `dlr.outcomes` may name


def test_receipts_follow_the_queue_and_the_shared_dlr_settings() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("smsmanager", {"queue_s": 0.3})
            dlr = {"delay_ms": 800, "intermediate_share": 1.0, "outcomes": {"EXPIRED": 1.0}}
            await k.control("dlr", dlr)
            _, text = await k.send(number=ANN, message="Hi", customid="5")
            rid = text.split("|")[1]
            seen = []
            for wait in (0.0, 0.45, 0.4, 0.45):  # queued; sent; half the delay gone; due
                await asyncio.sleep(wait)
                seen.append(receipts((await k.get("/RequestStatus", requestid=rid))[1])[ANN])
            assert seen == [("0", "0"), ("2", "1"), ("2", "5"), ("2", "6")]

            await k.control("smsmanager", {"queue_s": 0})
            await k.control("dlr", {"enabled": False, "intermediate_share": 0.0, "delay_ms": 100})
            await k.control("settings", {"dedupe_ids": True})
            _, text = await k.send(number=f"{ANN},{BOB}", message="Hi", customid="5")
            rid = text.split("|")[1]
            await asyncio.sleep(0.5)
            lines = (await k.get("/RequestStatus", requestid=rid))[1]
            # reports off: decided, never shown; a reused id not sent again: no receipt
            assert receipts(lines) == {ANN: ("2", "0"), BOB: ("2", "1")}
            assert (await k.control("state?final=1"))["final"] == {
                f"5:{ANN}": "EXPIRED",
                f"5:{BOB}": "EXPIRED",
            }

    run(go)


# ---------------------------------------------------------------- the XML API


def test_xml_send_takes_every_request_and_answers_each() -> None:
    async def go() -> None:
        async with sandbox() as k:
            doc = document(
                (
                    {
                        "Type": "high",
                        "CustomID": "7",
                        "Sender": "Shop",
                        "Expiration": "2030-01-22T13:00:00",
                    },
                    "Hi Ann & co",
                    [ANN, "12"],
                ),
                ({"Type": "lowcost", "CustomID": "7"}, "Hi <Bob>", [BOB, CID_NUMBER]),
            )
            status, text = await k.send_xml(doc)
            assert status == 200, text
            kind, code, requests = answered(text)
            assert (kind, code) == ("OK", "0")
            # answered in reverse order: the order is not documented
            assert [(cid, numbers) for _, cid, numbers in requests] == [
                ("7", [BOB, CID_NUMBER]),
                ("7", [ANN]),
            ]
            book = k.sandbox.book.requests
            second, first = (book[rid] for rid, _, _ in requests)
            assert (first.gateway, first.sender, first.expiration) == (
                "high",
                "Shop",
                "2030-01-22 13:00:00",
            )
            assert (second.gateway, second.sender) == ("lowcost", "SmsManager")
            st = await k.control("state?ids=1")
            assert st["accepted"] == {f"7:{ANN}": 1, f"7:{BOB}": 1, f"7:{CID_NUMBER}": 1}
            assert st["requests"] == {"/Send XMLDATA": 1} and st["destinationsReceived"] == 4
            status, lines = await k.get("/RequestStatus", requestid=requests[0][0])
            assert lines == f"{BOB}|2|1|1\n{CID_NUMBER}|2|1|1"

    run(go)


HIGH = {"Type": "high"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("", 400, "101"),
        ("not xml", 400, "102"),
        ('<!DOCTYPE d [<!ENTITY e "x">]><RequestDocument/>', 400, "102"),
        (document((HIGH, "Hi", [ANN]), key="wrong"), 401, "103"),
        (
            "<RequestDocument><RequestHeader><Apikey>sandbox-key</Apikey></RequestHeader>"
            "</RequestDocument>",
            400,
            "109",
        ),
        (document((HIGH, "Hi", [ANN]), (HIGH, None, [BOB])), 400, "109"),
        (document((HIGH, "Hi", [ANN]), (HIGH, "Hi", [])), 400, "109"),
        (document((HIGH, "Hi", [ANN]), (HIGH, "Hi", ["12", "abc"])), 400, "201"),
        (document((HIGH, "Hi", [ANN]), (HIGH, "x" * 1001, [BOB])), 400, "202"),
        (document((HIGH, "Hi", [ANN]), ({"Sender": "two words"}, "Hi", [BOB])), 400, "203"),
        (document((HIGH, "Hi", [ANN]), ({"Type": "cheap"}, "Hi", [BOB])), 400, "104"),
        (document((HIGH, "Hi", [ANN]), ({"CustomID": "x"}, "Hi", [BOB])), 400, "102"),
    ],
)
def test_xml_document_refused_whole(body: str, status: int, code: str) -> None:
    """One bad request refuses the whole document: nothing of it is taken, and the answer
    does not say which request it was."""

    async def go() -> None:
        async with sandbox() as k:
            got, text = await k.send_xml(body)
            assert (got, answered(text)[:2]) == (status, ("ERROR", code)), text
            assert k.sandbox.state.accepted == {} and k.sandbox.book.requests == {}

    run(go)


def test_xml_no_credit_for_the_whole_document_is_105() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("balance", {"set": 1})
            got, text = await k.send_xml(document((HIGH, "a", [ANN]), (HIGH, "b", [BOB])))
            assert (got, answered(text)[:2]) == (402, ("ERROR", "105"))
            assert k.sandbox.state.accepted == {}

    run(go)


def test_xml_faults_as_the_http_api_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smm_app, "SERVER_TIMEOUT_S", 0.2)
    doc = document(({"CustomID": "9"}, "a", [ANN]), ({"CustomID": "9"}, "b", [BOB]))

    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"error_share": 1.0})
            got, text = await k.send_xml(doc)
            assert (got, answered(text)[:2]) == (500, ("ERROR", "900"))
            await k.control("faults", {"error_share": 0.0, "latency_ms": 300})
            got, text = await k.send_xml(doc)
            assert got == 503 and "Service Unavailable" in text
            assert k.sandbox.state.accepted == {}  # neither took anything
            await k.control("faults", {"latency_ms": 100})
            await asyncio.gather(k.send_xml(doc), k.send(number=CID_NUMBER, message="c"))
            assert (await k.control("state"))["maxConcurrentRequests"] == 2
            await k.control("reset", {})
            await k.control(
                "faults", {"latency_ms": 0, "timeout_share": 1.0, "timeout_mode": "drop"}
            )
            with pytest.raises(aiohttp.ClientError):
                await k.send_xml(doc)
            st = await k.control("state?ids=1")
            assert st["accepted"] == {f"9:{ANN}": 1, f"9:{BOB}": 1}
            assert sorted(st["acceptedInTimeouts"]) == [f"9:{ANN}", f"9:{BOB}"]
            with pytest.raises(aiohttp.ClientError):
                await k.send_xml(doc)  # the same customid again: sent and counted again
            assert (await k.control("state"))["doubleSends"] == 2

    run(go)


# ---------------------------------------------------------------- counting


def test_a_reused_id_is_sent_and_counted_again_by_default() -> None:
    async def go() -> None:
        async with sandbox() as k:
            assert (await k.control("settings"))["dedupe_ids"] is False
            for _ in range(2):
                status, _ = await k.send(number=ANN, message="Hi", customid="7")
                assert status == 200
            await k.send(number=BOB, message="Hi", customid="8")
            st = await k.control("state?ids=1")
            assert st["accepted"] == {f"7:{ANN}": 2, f"8:{BOB}": 1}
            assert (st["doubleSends"], st["acceptedMoreThanOnce"]) == (1, 1)

    run(go)


def test_dedupe_ids_answers_a_reused_id_as_taken_without_sending_it() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("settings", {"dedupe_ids": True})
            for _ in range(2):
                status, text = await k.send(number=ANN, message="Hi", customid="7")
                assert status == 200 and text.split("|")[2] == ANN
            st = await k.control("state?ids=1")
            assert st["accepted"] == {f"7:{ANN}": 1} and st["doubleSends"] == 0
            assert st["seen"] == {f"7:{ANN}": 2} and st["seenMoreThanOnce"] == 1
            assert st["acceptedParts"] == 1  # billed once

    run(go)


def test_reset_forgets_requests_and_counts() -> None:
    async def go() -> None:
        async with sandbox() as k:
            _, first = await k.send(number=ANN, message="Hi", customid="7")
            await k.control("reset", {})
            assert await k.get("/RequestList") == (200, "")
            st = await k.control("state?ids=1")
            assert st["accepted"] == {} and st["requests"] == {"/RequestList": 1}
            _, second = await k.send(number=ANN, message="Hi", customid="7")
            assert int(second.split("|")[1]) > int(first.split("|")[1])  # ids never reused

    run(go)


def test_concurrent_requests_are_counted() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"latency_ms": 200})
            await asyncio.gather(*(k.send(number=ANN, message=f"m{i}") for i in range(5)))
            st = await k.control("state")
            assert st["maxConcurrentRequests"] == 5 and st["inflight"] == 0

    run(go)


# ---------------------------------------------------------------- faults


def test_error_fault_is_900_before_anything_is_accepted() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"error_share": 1.0})
            status, text = await k.send(number=ANN, message="Hi")
            assert (status, text.split("|")[:2]) == (500, ["ERROR", "900"])
            st = await k.control("state")
            assert st["acceptedMessages"] == 0 and st["http"] == {"500": 1}

    run(go)


def test_throttle_fault_is_429_with_retry_after() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"throttle_every": 1, "retry_after_s": 3})
            status, _, headers = await k.call("POST", "/Send", apikey=KEY, number=ANN, message="Hi")
            assert status == 429 and headers["Retry-After"] == "3"
            assert k.sandbox.state.accepted == {}

    run(go)


def test_timeout_fault_accepts_then_drops_the_connection() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"timeout_share": 1.0, "timeout_mode": "drop"})
            with pytest.raises(aiohttp.ClientError):
                await k.send(number=ANN, message="Hi", customid="9")
            st = await k.control("state?ids=1")
            assert st["accepted"] == {f"9:{ANN}": 1}
            assert st["acceptedInTimeouts"] == [f"9:{ANN}"] and st["inflight"] == 0
            assert st["timeouts"][0]["accepted"] == 1

    run(go)


def test_past_the_gateways_30_seconds_it_answers_503_and_processes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(smm_app, "SERVER_TIMEOUT_S", 0.2)

    async def go() -> None:
        async with sandbox() as k:
            await k.control("faults", {"latency_ms": 300})
            started = time.monotonic()
            status, text = await k.send(number=ANN, message="Hi")
            assert status == 503 and "Service Unavailable" in text
            assert 0.2 <= time.monotonic() - started < 0.3
            assert k.sandbox.state.accepted == {} and await k.get("/RequestList") == (200, "")

    run(go)


def test_server_builds_it_by_provider_name() -> None:
    app = server.make_app(None, "smsmanager")
    assert isinstance(app[SANDBOX], SmsManagerSandbox)
    assert app[SANDBOX].settings.dedupe_ids is False


# ---------------------------------------------------------------- the provider against it

EXPIRES = 1_895_313_600_000


def batch(n: int = 2, texts: list[str] | None = None, bulk: str = "b-0") -> Batch:
    dests = tuple(
        Destination(f"{bulk}-{i}", f"42077700{i:04d}", texts[i] if texts else None)
        for i in range(n)
    )
    return Batch("b", 0, bulk, "Shop", None if texts else "Hi", dests, EXPIRES)


@asynccontextmanager
async def provider(
    timeout: float = 5.0, settings: SandboxSettings | None = None
) -> AsyncIterator[tuple[Any, Kit]]:
    async with sandbox(settings) as k, aiohttp.ClientSession() as session:
        base = str(k.client.make_url("")).rstrip("/")
        s = Settings(smsmanager_base_url=base, smsmanager_api_key=KEY, http_timeout=timeout)
        yield registry.get("smsmanager").sender(session, s), k


def test_the_xml_api_is_beside_the_http_api() -> None:
    assert Settings().smsmanager_xml_base_url == "https://xml-api.smsmanager.cz"
    beside = Settings(smsmanager_base_url="https://http-api.smsmanager.cz")
    assert beside.smsmanager_xml_base_url == "https://xml-api.smsmanager.cz"
    sandbox_url = Settings(smsmanager_base_url="http://127.0.0.1:8099")
    assert sandbox_url.smsmanager_xml_base_url == "http://127.0.0.1:8099"  # serves both
    chosen = load({"SMSMANAGER_XML_URL": "https://proxy.example/xml/"})
    assert chosen.smsmanager_xml_base_url == "https://proxy.example/xml"


def test_send_then_lookup_finds_a_request_only_while_it_is_queued() -> None:
    async def go() -> None:
        async with provider() as (p, k):
            b = batch(4)
            assert await p.lookup(b) == {}
            # the least favourable reading: processed at once, gone from /RequestList
            results = await p.send(b.only(list(b.destinations[2:])))
            assert [r.verdict.action for r in results] == [Action.ACCEPTED] * 2
            assert await p.lookup(b) == {}  # taken, yet not found: no proof of absence
            await k.control("smsmanager", {"queue_s": 60})
            results = await p.send(b.only(list(b.destinations[:2])))
            found = await p.lookup(b)
            assert set(found) == {"b-0-0", "b-0-1"}
            assert all(r.verdict.action is Action.ALREADY_DONE for r in found.values())
            assert {r.poll_ref for r in found.values()} == {results[0].poll_ref}
            cid = custom_id(b)  # not numbered by a worker: the bulkId's hash
            assert set(k.sandbox.state.accepted) == {f"{cid}:42077700000{i}" for i in range(4)}
            listed = k.sandbox.book.requests.popitem()[1]
            expected = (cid, expiration(EXPIRES).replace("T", " "))
            assert (listed.custom_id, listed.expiration) == expected
            # another batch of the same campaign (same validity, same sender) is not confused
            assert await p.lookup(batch(2, bulk="b-1")) == {}

    run(go)


def test_a_shared_text_is_one_http_send_its_request_id_the_poll_ref() -> None:
    async def go() -> None:
        async with provider() as (p, k):
            results = await p.send(batch(2))
            (request_id,) = k.sandbox.book.requests
            assert [(r.verdict.action, r.poll_ref) for r in results] == [
                (Action.ACCEPTED, request_id)
            ] * 2
            assert k.sandbox.state.requests == {"/Send": 1}

    run(go)


def test_personalised_batch_is_one_xml_document() -> None:
    async def go() -> None:
        async with provider() as (p, k):
            b = batch(3, texts=["Hi Ann & co", "Hi <Bob>", "Hi Ann & co"])
            results = await p.send(b)
            assert [r.verdict.action for r in results] == [Action.ACCEPTED] * 3
            assert k.sandbox.state.requests == {"/Send XMLDATA": 1}
            ann, bob = k.sandbox.book.requests.values()  # a request per text
            assert (ann.numbers, bob.numbers) == (
                ["420777000000", "420777000002"],
                ["420777000001"],
            )
            polls = [r.poll_ref for r in results]
            assert polls == [ann.request_id, bob.request_id, ann.request_id]
            cid = custom_id(b)
            assert [r.provider_id for r in results] == [f"{cid}:42077700000{i}" for i in range(3)]
            assert set(k.sandbox.state.accepted.values()) == {1} and len(results) == 3

    run(go)


def test_a_document_refused_for_one_number_sends_each_text_alone() -> None:
    async def go() -> None:
        settings = SandboxSettings(dedupe_ids=False, blacklist=frozenset({"420777000001"}))
        async with provider(settings=settings) as (p, k):
            results = await p.send(batch(3, texts=["a", "b", "c"]))
            actions = [r.verdict.action for r in results]
            assert actions == [Action.ACCEPTED, Action.PERMANENT, Action.ACCEPTED]
            assert k.sandbox.state.requests == {"/Send XMLDATA": 1, "/Send": 3}
            assert set(k.sandbox.state.accepted.values()) == {1}
            assert len(k.sandbox.state.accepted) == 2

    run(go)


def test_a_503_is_not_maybe_sent_and_a_timeout_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smm_app, "SERVER_TIMEOUT_S", 0.2)

    async def go() -> None:
        async with provider(timeout=1.0) as (p, k):
            await k.control("faults", {"latency_ms": 300})
            for b in (batch(), batch(texts=["a", "b"])):  # over HTTP, and one XML document
                with pytest.raises(GatewayServerError) as info:
                    await p.send(b)
                assert info.value.status == 503 and info.value.retryable
                assert not info.value.maybe_sent and k.sandbox.state.accepted == {}

            hang = {
                "latency_ms": 0,
                "timeout_share": 1.0,
                "timeout_mode": "sleep",
                "timeout_sleep_s": 2.0,
            }
            await k.control("faults", hang)
            for b in (batch(), batch(texts=["a", "b"], bulk="b-1")):
                with pytest.raises(GatewayTimeout) as timed_out:
                    await p.send(b)
                assert timed_out.value.maybe_sent
            assert len(k.sandbox.state.accepted) == 4  # the gateway took them all
            await k.control("faults", {"timeout_share": 0.0})
            # ... and a lookup cannot find them: only queued requests are listed
            assert await p.lookup(batch()) == {}

    run(go)


def test_a_refused_document_then_a_batch_past_its_time_budget_defers_the_rest() -> None:
    async def go() -> None:
        bad = SandboxSettings(dedupe_ids=False, blacklist=frozenset({"420777000002"}))
        async with provider(timeout=0.9, settings=bad) as (p, k):
            await k.control("faults", {"latency_ms": 400})
            results = await p.send(batch(3, texts=["a", "b", "c"]))
            actions = [r.verdict.action for r in results]
            # the document's refusal took 0.4 s, the first text 0.4 s: the 0.1 s left is
            # under MIN_BUDGET_S = timeout/3, the other texts wait
            assert actions == [Action.ACCEPTED, Action.THROTTLED, Action.THROTTLED]
            assert results[2].verdict.name == "NOT_SENT_IN_TIME"
            assert k.sandbox.state.requests == {"/Send XMLDATA": 1, "/Send": 1}
            await k.control("faults", {"latency_ms": 650})  # 0.25 s left after the refusal
            results = await p.send(batch(3, texts=["a", "b", "c"], bulk="b-1"))
            assert {r.verdict.name for r in results} == {"NOT_SENT_IN_TIME"}
            assert k.sandbox.state.requests == {"/Send XMLDATA": 2, "/Send": 1}

    run(go)


def test_the_status_reader_reads_what_the_sandbox_decided() -> None:
    async def go() -> None:
        async with sandbox() as k, aiohttp.ClientSession() as session:
            outcomes = {"DELIVERED": 1.0, "UNDELIVERABLE": 1.0, "EXPIRED": 1.0}
            await k.control("dlr", {"delay_ms": 200, "outcomes": outcomes})
            base = str(k.client.make_url("")).rstrip("/")
            s = Settings(smsmanager_base_url=base, smsmanager_api_key=KEY)
            sender = registry.get("smsmanager").sender(session, s)
            shared, personal = batch(6), batch(6, texts=list("abcabc"), bulk="b-1")
            asked = []
            for b in (shared, personal):  # one /Send, one XML document
                for d, r in zip(b.destinations, await sender.send(b), strict=True):
                    asked.append((Asked(d.message_id, r.poll_ref, d.to), r.provider_id))
            assert k.sandbox.state.requests == {"/Send": 1, "/Send XMLDATA": 1}
            reader = SmsManagerStatusReader(session, s)
            early = await reader.read([a for a, _ in asked])  # receipt 1, delivering
            assert {(r.state, r.final) for r in early} == {("pending", False)} and len(early) == 12
            await asyncio.sleep(0.25)
            decided = k.sandbox.state.final
            reports = {r.message_id: r.state for r in await reader.read([a for a, _ in asked])}
            assert reports == {a.message_id: decided[pid].lower() for a, pid in asked}
            assert set(reports.values()) == {"delivered", "undeliverable", "expired"}

    run(go)
