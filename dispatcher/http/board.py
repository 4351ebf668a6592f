"""The live operations page: `/` (static assets under /static, served from this package,
no CDN), its login, and `GET /v1/events`, a server-sent event stream of every campaign's
figures, once a second.

One `Board` per server reads Redis once a tick while anyone watches, however many pages
are open, and works out each campaign's sending rate from two ticks.  It also writes the
campaign page's chart (dispatcher.http.chart) each tick, for the campaigns in motion (not
done or canceled, or whose counts changed in the last REFRESH_S), and does so while
nobody watches too: then it reads every campaign's status only each REFRESH_S and, in
between, only the counts of those in motion (one pipelined read a second).  A campaign
that starts while nobody watches has its first points up to REFRESH_S late; while no API
process runs, no points are written.  The page logs in
with an admin key (`POST /ops/login`), which opens a server-side session
(dispatcher.http.sessions: the cookie is an opaque id, never the key); writes with that
cookie also need the `X-Requested-With` header the page sets (a form on another site
cannot).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import orjson
import redis
from aiohttp import web

from core import keys
from dispatcher import control
from dispatcher.http import auth, chart, sessions
from dispatcher.http.campaigns import status_of
from dispatcher.http.state import CLIENT, SETTINGS, body, call, reply, scoped, text
from dispatcher.problems import problem

COOKIE = "smsd_ops"
CSRF_HEADER = "X-Requested-With"
TICK_S = 1.0
REFRESH_S = 10.0  # while nobody watches: every campaign's status this often
RESTING = frozenset({"done", "canceled"})
BOARD_CAMPAIGNS = 50  # the newest campaigns shown (and exported as gauges)
STATIC = Path(__file__).with_name("static")
TYPES = {".js": "text/javascript", ".css": "text/css"}
ASSETS = {p.name: TYPES[p.suffix] for p in STATIC.iterdir() if p.suffix in TYPES}


class Board:
    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s  # of the chart's series (SMS_FINAL_TTL)
        self.watchers = 0
        self.snapshot: dict[str, Any] = {"at": 0, "campaigns": []}
        self._tick = asyncio.Event()
        self._last: dict[str, tuple[float, int]] = {}
        self._charted: dict[str, chart.Point] = {}  # the last point written
        self._changed: dict[str, float] = {}  # when its point last changed (monotonic)
        self._moving: set[str] = set()  # what gets a point each tick
        self._read_at = -REFRESH_S

    async def run(self) -> None:
        while True:
            with contextlib.suppress(redis.RedisError):
                if self.watchers or time.monotonic() - self._read_at >= REFRESH_S:
                    self.snapshot = await call(self.read)
                    self._tick.set()
                    self._tick = asyncio.Event()
                elif self._moving:
                    await call(self.follow)
            await asyncio.sleep(TICK_S)

    async def next(self) -> dict[str, Any]:
        await self._tick.wait()
        return self.snapshot

    def read(self) -> dict[str, Any]:
        now, rows = time.monotonic(), []
        for campaign in newest(self.client):
            try:
                st = status_of(self.client, campaign)
            except control.CampaignNotFound:
                continue
            then, done = self._last.get(campaign, (now, st["done_sending"]))
            st["sent_per_s"] = (
                round((st["done_sending"] - done) / (now - then), 1) if now > then else 0.0
            )
            self._last[campaign] = (now, st["done_sending"])
            rows.append(st)
        points = [chart.point(st["campaign"], st["counts"]) for st in rows]
        self._chart(points, {st["campaign"] for st in rows if st["state"] not in RESTING})
        self._read_at = now
        return {"at": int(time.time() * 1000), "campaigns": rows}

    def follow(self) -> None:
        """A tick while nobody watches: the counts of the campaigns in motion only."""
        moving = sorted(self._moving)
        pipe = self.client.pipeline(transaction=False)
        for campaign in moving:
            pipe.hgetall(keys.campaign_counts(campaign))
        points = []
        for campaign, raw in zip(moving, pipe.execute(), strict=True):
            counts = {k.decode(): int(v) for k, v in raw.items()}
            points.append(chart.point(campaign, counts))
        self._chart(points, self._moving)

    def _chart(self, points: list[chart.Point], active: set[str]) -> None:
        """Write the points of the campaigns that are active or changed within REFRESH_S."""
        now = time.monotonic()
        for p in points:
            if p.campaign not in self._charted:  # first seen: a baseline, not a change
                self._charted[p.campaign] = p
            elif self._charted[p.campaign] != p:
                self._changed[p.campaign] = now
        moving = [
            p
            for p in points
            if p.campaign in active or now - self._changed.get(p.campaign, -REFRESH_S) < REFRESH_S
        ]
        if moving:
            chart.record(self.client, int(time.time()), moving, self.ttl_s)
        self._charted.update((p.campaign, p) for p in moving)
        self._moving = {p.campaign for p in moving}


def newest(client: redis.Redis, n: int = BOARD_CAMPAIGNS) -> list[str]:
    """The `n` most recently created campaigns, newest first."""
    names = control.campaigns(client)
    pipe = client.pipeline(transaction=False)
    for c in names:
        pipe.hget(keys.campaign_meta(c), "created")
    created = [int(v or 0) for v in pipe.execute()]
    return [c for _, c in sorted(zip(created, names, strict=True), reverse=True)[:n]]


BOARD = web.AppKey("board", Board)


def routes(app: web.Application) -> None:
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", asset)
    app.router.add_post("/ops/login", login)
    app.router.add_post("/ops/logout", logout)
    app.router.add_get("/v1/events", events)
    app.cleanup_ctx.append(_board)


async def _board(app: web.Application) -> Any:
    app[BOARD] = Board(app[CLIENT], app[SETTINGS].final_ttl)
    task = asyncio.create_task(app[BOARD].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def page(request: web.Request) -> web.Response:
    return web.Response(
        body=(STATIC / "ops.html").read_bytes(),
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'self'"},
    )


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound(text=f"no asset {name!r}")
    return web.Response(body=(STATIC / name).read_bytes(), content_type=ASSETS[name])


async def login(request: web.Request) -> web.Response:
    key = text(await body(request), "key", required=True, limit=200)
    client, digest = request.app[CLIENT], auth.digest(key)
    who = auth.caller(await call(client.hget, keys.API_KEYS, digest))
    if who is None or not who.may("admin"):
        return problem(401, "unauthorized", "the operations page needs an admin-scope key")
    session_id = await call(sessions.open_session, client, digest)
    response = reply({"name": who.name, "scope": who.scope})
    secure = request.secure or request.app[SETTINGS].public_url.startswith("https:")
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=secure,
        max_age=sessions.SESSION_TTL_S,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    await call(sessions.close, request.app[CLIENT], request.cookies.get(COOKIE, ""))
    response = reply({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


@scoped("admin")
async def events(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    board.watchers += 1
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            snapshot = await board.next()
            await response.write(b"event: board\ndata: " + orjson.dumps(snapshot) + b"\n\n")
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        board.watchers -= 1
    return response
