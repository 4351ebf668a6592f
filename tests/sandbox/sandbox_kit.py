"""Helpers for the sandbox tests: an in-process sandbox with an authorised client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp.test_utils import TestClient, TestServer

from sandbox.app import make_app
from sandbox.gateway import SANDBOX, Sandbox
from sandbox.settings import SandboxSettings

T = TypeVar("T")
BASIC = "Basic " + base64.b64encode(b"sandbox:sandbox").decode()


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


@dataclass
class Kit:
    client: TestClient
    sandbox: Sandbox

    async def call(
        self, method: str, path: str, body: Any = None, auth: str | None = BASIC
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        data = orjson.dumps(body) if body is not None else None
        async with self.client.request(method, path, data=data, headers=headers) as resp:
            raw = await resp.read()
            return resp.status, orjson.loads(raw) if raw else None, dict(resp.headers)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, data, _ = await self.call("POST", path, body, **kw)
        return status, data

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, data, _ = await self.call("GET", path, **kw)
        return status, data

    async def advanced(self, *messages: dict, bulk_id: str | None = None) -> tuple[int, Any]:
        body: dict[str, Any] = {"messages": list(messages)}
        if bulk_id:
            body["bulkId"] = bulk_id
        return await self.post("/sms/1/text/advanced", body)

    async def state(self, query: str = "") -> Any:
        return (await self.get(f"/_sandbox/state{query}", auth=None))[1]


def message(*numbers: str, text: str = "Hello", ids: list[str] | None = None, **extra: Any) -> dict:
    dests = [{"to": n} for n in numbers]
    for dest, mid in zip(dests, ids or [], strict=False):
        dest["messageId"] = mid
    return {"from": "InfoSMS", "destinations": dests, "text": text, **extra}


@asynccontextmanager
async def sandbox(settings: SandboxSettings | None = None) -> AsyncIterator[Kit]:
    app = make_app(settings or SandboxSettings())
    async with TestServer(app) as server, TestClient(server) as client:
        yield Kit(client, app[SANDBOX])
