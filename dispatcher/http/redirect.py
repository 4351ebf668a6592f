"""`GET /l/{code}`: a tracked short link (dispatcher.links), answered to anyone (no key).

A code of the right shape (`links.is_code`) goes to click.lua (`links.clicks`), which
records the click (the link's count, first and last click, user-agent
family; the campaign's counters and clicks by minute; a `clicked` event in the outcome
stream) and gives back the target, answered as a 302.  Anything else under /l/ (an
unknown or expired code, a malformed one, a longer path) is the same plain 404 page,
which says nothing about why.  HEAD answers as GET does and records nothing.  The
handler runs on the event loop with an asyncio Redis client of its own (no thread hop);
the app's middlewares pass a GET without a key straight through.  The clicks that
arrive while one pipeline is out go together in the next (`Clicks`), one click.lua call
per campaign among them: one Redis round trip, one pool checkout and one command for
many redirects (bench/link_redirect.py measures it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from core.outcomes import StreamPolicy
from core.redis_pool import async_redis
from dispatcher import links

POOL = 16  # connections of the redirect's own Redis pool
MAX_BATCH = 256  # clicks in one pipeline
NOT_FOUND = (
    b"<!doctype html>\n<html><head><meta charset=utf-8><title>Not found</title></head>"
    b"<body><h1>Not found</h1><p>This link does not exist.</p></body></html>\n"
)
NO_STORE = "no-store"


class Clicks:
    """Clicks sent to Redis in pipelines: a click waits while a pipeline is out (at most
    POOL at once), then goes with those that came meanwhile (at most MAX_BATCH)."""

    def __init__(self, client: Any, policy: StreamPolicy) -> None:
        self.client = client
        self.policy = policy
        self.waiting: list[tuple[str, str, asyncio.Future[str | None]]] = []
        self.slots = asyncio.Semaphore(POOL)
        self.sending: set[asyncio.Task[None]] = set()

    async def click(self, code: str, agent: str) -> str | None:
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.waiting.append((code, agent, answer))
        if len(self.waiting) == 1:
            task = asyncio.create_task(self._send())
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        return await answer

    async def _send(self) -> None:
        async with self.slots:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            if self.waiting:  # more than one pipeline's worth came: the rest go next
                task = asyncio.create_task(self._send())
                self.sending.add(task)
                task.add_done_callback(self.sending.discard)
            try:
                wanted = [(code, agent) for code, agent, _ in batch]
                targets = await links.clicks(self.client, wanted, self.policy)
            except Exception as exc:  # each redirect of the batch answers it (503)
                for *_, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                return
            for (*_, answer), target in zip(batch, targets, strict=True):
                if not answer.done():
                    answer.set_result(target)

    async def close(self) -> None:
        await asyncio.gather(*self.sending, return_exceptions=True)
        await self.client.aclose()


CLICKS = web.AppKey("clicks", Clicks)


def routes(app: web.Application, url: str, cluster: bool, policy: StreamPolicy) -> None:
    """The redirect route (everything under /l/) and its Redis client, opened with the app."""

    async def open_client(app: web.Application) -> None:
        client = async_redis(url, max_connections=POOL, cluster=cluster)
        app[CLICKS] = Clicks(client, policy)

    async def close_client(app: web.Application) -> None:
        await app[CLICKS].close()

    app.on_startup.append(open_client)
    app.on_cleanup.append(close_client)
    path = links.PATH + r"{code:[\s\S]*}"  # a newline in it too
    app.router.add_get(path, redirect, allow_head=False)
    app.router.add_route("HEAD", path, peek)


def not_found() -> web.Response:
    return web.Response(
        status=404,
        body=NOT_FOUND,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": NO_STORE},
    )


async def redirect(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not links.is_code(code):
        return not_found()
    agent = links.agent_family(request.headers.get("User-Agent", ""))
    target = await request.app[CLICKS].click(code, agent)
    if target is None:
        return not_found()
    return found(target)


async def peek(request: web.Request) -> web.Response:
    """HEAD: the same answer as GET, but no click is recorded (link checkers and some
    previews ask HEAD first; a person's browser always GETs)."""
    code = request.match_info["code"]
    target = await links.target(request.app[CLICKS].client, code) if links.is_code(code) else None
    return found(target) if target else not_found()


def found(target: str) -> web.Response:
    headers = {"Location": target, "Cache-Control": NO_STORE, "Referrer-Policy": "no-referrer"}
    return web.Response(status=302, headers=headers)
