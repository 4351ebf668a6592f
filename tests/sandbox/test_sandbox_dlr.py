"""Sandbox delivery reports: pushed to notifyUrl in both formats (JSON/XML), duplicates,
intermediate reports, decided outcomes, and GET /sms/1/reports returning each once."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import defusedxml.ElementTree as ET
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.settings import DlrSettings, SandboxSettings
from tests.sandbox.sandbox_kit import Kit, message, run, sandbox

NUMBERS = [f"6681234{i:04d}" for i in range(20)]
IDS = [f"dlr-{i}" for i in range(20)]


@dataclass
class Receiver:
    url: str
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)  # auth, ctype, body


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got: list[tuple[str, str, bytes]] = []

    async def dlr(request: web.Request) -> web.Response:
        got.append(
            (request.headers.get("Authorization", ""), request.content_type, await request.read())
        )
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/dlr", dlr)
    async with TestServer(app) as server:
        yield Receiver(str(server.make_url("/dlr")), got)


def settings(**dlr: object) -> SandboxSettings:
    base = {"delay_ms": 5.0, "tick_ms": 5.0, "username": "cb-user", "password": "cb-pass"}
    return SandboxSettings(dlr=DlrSettings(**{**base, **dlr}))  # type: ignore[arg-type]


async def send(k: Kit, url: str, ctype: str, n: int = 10, **extra: object) -> None:
    msg = message(
        *NUMBERS[:n],
        ids=IDS[:n],
        notifyUrl=url,
        notifyContentType=ctype,
        callbackData="cb-data",
        **extra,
    )
    status, _ = await k.advanced(msg, bulk_id="BULK-D")
    assert status == 200


def parse_2018_json(posts: list) -> list[dict]:
    return [r for _, _, body in posts for r in orjson.loads(body)["results"]]


def parse_xml(posts: list, item: str) -> list[dict]:
    out = []
    for _, _, body in posts:
        root = ET.fromstring(body)
        for node in root.iter(item):
            out.append({child.tag: child for child in node})
    return out


def test_2018_json_reports_match_decided_outcomes_with_basic_auth() -> None:
    async def go() -> None:
        async with receiver() as rx, sandbox(settings(batch_size=4)) as k:
            await send(k, rx.url, "application/json")
            await k.post("/_sandbox/dlr/flush", auth=None)
            results = parse_2018_json(rx.posts)
            assert len(rx.posts) == 3  # 10 reports, 4 per POST
            expected_auth = "Basic " + base64.b64encode(b"cb-user:cb-pass").decode()
            assert {a for a, _, _ in rx.posts} == {expected_auth}
            assert {c for _, c, _ in rx.posts} == {"application/json"}
            final = (await k.state("?final=1"))["final"]
            outcome_names = {
                "DELIVERED_TO_HANDSET": "DELIVERED",
                "UNDELIVERABLE_NOT_DELIVERED": "UNDELIVERABLE",
                "EXPIRED_EXPIRED": "EXPIRED",
            }
            assert {r["messageId"]: outcome_names[r["status"]["name"]] for r in results} == final
            first = results[0]
            assert first["bulkId"] == "BULK-D" and first["callbackData"] == "cb-data"
            assert first["smsCount"] == 1 and first["price"]["currency"] == "THB"
            assert set(first["error"]) == {
                "groupId",
                "groupName",
                "id",
                "name",
                "description",
                "permanent",
            }
            undeliverable = [r for r in results if r["status"]["groupName"] == "UNDELIVERABLE"]
            for r in undeliverable:
                assert (
                    r["error"]["name"] == "EC_ABSENT_SUBSCRIBER"
                    and r["error"]["permanent"] is False
                )

    run(go)


def test_2018_xml_reports() -> None:
    async def go() -> None:
        async with receiver() as rx, sandbox(settings()) as k:
            await send(k, rx.url, "application/xml", n=3)
            await k.sandbox.dlr.flush()
            assert rx.posts[0][1] == "application/xml"
            assert ET.fromstring(rx.posts[0][2]).tag == "reportResponse"
            results = parse_xml(rx.posts, "result")
            assert sorted(r["messageId"].text for r in results) == IDS[:3]
            assert results[0]["status"].find("groupName") is not None
            assert results[0]["error"].find("permanent").text in ("true", "false")

    run(go)


def test_new_format_json_and_xml() -> None:
    async def go() -> None:
        async with receiver() as rx, sandbox(settings(format="new")) as k:
            await send(k, rx.url, "application/json", n=3)
            await k.sandbox.dlr.flush()
            body = orjson.loads(rx.posts[0][2])
            assert body["bulkId"] == "BULK-D"
            detail = body["details"][0]
            assert set(detail) == {
                "messageId",
                "to",
                "from",
                "text",
                "credit",
                "sendDate",
                "doneDate",
                "status",
                "callbackData",
            }
            assert set(detail["status"]) == {"code", "name", "description"}
            assert detail["from"] == "InfoSMS" and detail["callbackData"] == "cb-data"
            rx.posts.clear()
            msg = message(
                NUMBERS[5], ids=["x-5"], notifyUrl=rx.url, notifyContentType="application/xml"
            )
            await k.advanced(msg, bulk_id="BULK-X")
            await k.sandbox.dlr.flush()
            root = ET.fromstring(rx.posts[0][2])
            assert root.tag == "CALLBACK" and root.find("bulkId").text == "BULK-X"
            detail_xml = root.find("details/detail")
            assert detail_xml.find("messageId").text == "x-5"
            assert detail_xml.find("status/code").text in ("000", "281", "300")

    run(go)


def test_duplicates_intermediate_and_delivery_by_the_timer() -> None:
    async def go() -> None:
        cfg = settings(
            duplicate_share=0.5,
            reorder_share=0.5,
            delayed_share=0.3,
            delayed_extra_ms=20.0,
            outcomes={"DELIVERED": 1.0},
        )
        async with receiver() as rx, sandbox(cfg) as k:
            await send(k, rx.url, "application/json", n=20, intermediateReport=True)
            for _ in range(200):  # no flush: the background task must send them
                await asyncio.sleep(0.01)
                results = parse_2018_json(rx.posts)
                finals = {
                    r["messageId"] for r in results if r["status"]["groupName"] == "DELIVERED"
                }
                if finals == set(IDS):
                    break
            assert finals == set(IDS)
            await k.sandbox.dlr.flush()
            results = parse_2018_json(rx.posts)
            pending = [r for r in results if r["status"]["groupName"] == "PENDING"]
            assert {r["messageId"] for r in pending} == set(IDS)
            dlr = (await k.state())["dlr"]
            assert len(results) == 40 + dlr["duplicates"] and dlr["duplicates"] > 0
            assert dlr["reports"] == len(results)
            assert dlr["delayed"] > 0 and dlr["reordered"] > 0

    run(go)


def test_reports_are_returned_once_with_filters_and_limit() -> None:
    async def go() -> None:
        async with sandbox(settings()) as k:
            await k.advanced(message(*NUMBERS[:6], ids=IDS[:6]), bulk_id="B-A")
            await k.advanced(message(*NUMBERS[6:8], ids=IDS[6:8]), bulk_id="B-B")
            await k.sandbox.dlr.flush()
            _, one = await k.get(f"/sms/1/reports?messageId={IDS[0]}")
            assert [r["messageId"] for r in one["results"]] == [IDS[0]]
            _, again = await k.get(f"/sms/1/reports?messageId={IDS[0]}")
            assert again == {"results": []}
            _, bulk_b = await k.get("/sms/1/reports?bulkId=B-B")
            assert sorted(r["messageId"] for r in bulk_b["results"]) == IDS[6:8]
            _, two = await k.get("/sms/1/reports?limit=2")
            _, rest = await k.get("/sms/1/reports")
            got = [r["messageId"] for r in two["results"] + rest["results"]]
            assert len(two["results"]) == 2 and sorted(got) == IDS[1:6]
            assert (await k.get("/sms/1/reports"))[1] == {"results": []}
            _, logs = await k.get(f"/sms/1/logs?messageId={IDS[0]},{IDS[1]}")
            assert sorted(r["messageId"] for r in logs["results"]) == IDS[:2]
            assert logs["results"][0]["text"] == "Hello"

    run(go)


def test_failing_receiver_is_retried_and_counted() -> None:
    async def go() -> None:
        async with sandbox(settings(retries=1)) as k:
            msg = message(NUMBERS[0], notifyUrl="http://127.0.0.1:9/dlr")
            await k.advanced(msg)
            await k.sandbox.dlr.flush()
            dlr = (await k.state())["dlr"]
            assert dlr["failedPosts"] == 1 and dlr["retries"] == 1

    run(go)
