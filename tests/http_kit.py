"""The API server in a thread of the test process, and a small HTTP client for it."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from config.settings import Settings
from dispatcher.http.app import make_app
from dispatcher.stack import free_port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Api:
    base: str
    key: str = ""

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        key: str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        raw = data if isinstance(data, bytes) else None if data is None else orjson.dumps(data)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        token = self.key if key is None else key
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=raw, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return Answer(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())


@contextmanager
def serving(app: web.Application, **runner_options: Any) -> Iterator[int]:
    """Serve `app` on a free loopback port, in a thread of its own, until the block ends
    (`runner_options`: aiohttp's server limits and timeouts); yields the port."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, **runner_options)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(20), "the server did not start"
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)


@contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """Serve the API on a free loopback port until the block ends; yields its base URL."""
    with serving(make_app(settings)) as port:
        yield f"http://127.0.0.1:{port}"
