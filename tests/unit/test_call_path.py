"""The path from `enqueue_campaign` to the HTTP request is at most 10 calls of ours, as
`workers/sender.py`'s docstring draws it: counted on the real stack, not from the drawing.

The producer half runs `dispatcher.api.enqueue_campaign` on Redis with a broker that
records the stack at `enqueue`; the worker half runs `BatchSender.process`, built as the
actor builds it (limits gate, slots, the ANTS sender) against a local gateway, recording
the stack at `providers.http.request`.  The actor's function (`workers.actors.send_batch`,
which loads the worker's settings on import) is read, not run: it calls `process` itself.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import time
from pathlib import Path
from typing import Any

import aiohttp
import fakeredis
import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestServer
from dramatiq.brokers.stub import StubBroker

import providers.http
from config.settings import Settings
from core.batch import Batch, Destination
from core.limits import AsyncLimiter
from core.queues import QUEUES
from dispatcher import api
from providers import registry
from workers.gate import Gate
from workers.runtime import Context
from workers.sender import BatchSender
from workers.slots import Slots

ROOT = Path(__file__).resolve().parents[2]
OURS = tuple(str(ROOT / package) for package in ("core", "dispatcher", "workers", "providers"))
MAX_CALLS = 10


def calls_below(top: str) -> list[str]:
    """The functions of ours on the stack now, from `top` (excluded; "": from the first of
    ours) down to the caller."""
    names = [
        frame.function for frame in reversed(inspect.stack()[1:]) if frame.filename.startswith(OURS)
    ]
    return names[names.index(top) + 1 :] if top else names


class RecordingBroker(StubBroker):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[list[str]] = []

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        self.paths.append([*calls_below(""), "broker.enqueue"])
        return message


def producer_paths(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The path of each batch: a batch that fills while rows are read goes out from the
    import's Redis-side thread (its path starts there: the hand-off, like the broker's, is
    no call of ours), the last one from `enqueue_campaign`'s own thread."""
    broker = RecordingBroker()
    monkeypatch.setattr(api, "producer", lambda settings: broker)
    settings = Settings(redis_url=redis_url, batch_size=2)
    people = [{"phone": f"0812345{i:03d}"} for i in range(3)]  # one whole batch, one part
    api.enqueue_campaign(people, campaign="path", text="Hi", settings=settings)
    assert len(broker.paths) == 2
    return broker.paths


def worker_path(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    paths: list[list[str]] = []
    real = providers.http.request

    async def recording(*args: Any, **kwargs: Any) -> Any:
        paths.append([*calls_below(""), "providers.http.request"])
        return await real(*args, **kwargs)

    monkeypatch.setattr(providers.http, "request", recording)

    async def gateway(request: web.Request) -> web.Response:
        body = await request.json()
        dests = body["messages"][0]["destinations"]
        status = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
        answer = [{"to": d["to"], "messageId": d["messageId"], "status": status} for d in dests]
        return web.json_response({"bulkId": body.get("bulkId"), "messages": answer})

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/sms/1/text/advanced", gateway)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            settings = Settings(
                redis_url="redis://x", ants_base_url=url, ants_username="u", ants_password="p"
            )
            broker = StubBroker()
            for queue in QUEUES:
                broker.declare_queue(queue)
            ctx = Context(settings, session, fakeredis.FakeAsyncRedis(), broker)
            spec, limiter = registry.get("ants"), AsyncLimiter(ctx.redis)
            sender = BatchSender(
                ctx,
                spec.sender(session, settings),
                Gate(limiter, settings, spec.profile, "ants"),
                Slots(limiter, settings, spec.profile, "ants"),
                spec.profile,
                "ants",
            )
            expires = int(time.time() * 1000) + 600_000
            dests = (Destination("path-0", "66812345600"),)
            batch = Batch("path", 0, "path-b0", "Shop", "Hi", dests, expires, provider="ants")
            await sender.process(batch)

    asyncio.run(go())
    assert len(paths) == 1, paths
    return paths[0]


def actor_calls_process() -> bool:
    """`workers.actors.send_batch`, the function of both sending actors, calls
    `<sender>.process` itself."""
    tree = ast.parse((ROOT / "workers" / "actors.py").read_text())
    [actor] = [
        n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "send_batch"
    ]
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "process"
        for node in ast.walk(actor)
    )


def test_enqueue_campaign_reaches_the_http_request_in_at_most_ten_calls(
    r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(`r`: a flushed database, so the campaign is new.)"""
    filled, last = producer_paths(redis_url, monkeypatch)
    assert last[0] == "enqueue_campaign" and filled[0] != "enqueue_campaign"
    produced = [last[1:], filled]  # from enqueue_campaign; from the Redis-side thread
    sent = worker_path(monkeypatch)
    assert sent[0] == "process" and actor_calls_process()
    for calls in produced:
        path = [*calls, "send_batch", *sent]  # the broker's hop is no call of ours
        assert len(calls) + len(sent) <= MAX_CALLS, " -> ".join(path)
        assert calls[-1] == "broker.enqueue" and sent[-1] == "providers.http.request"
