"""The HTTP API server (`smsdispatch api`, the Procfile's `api`): one aiohttp app.

    /v1/...          the API (dispatcher.http.campaigns, .messages, .unknown, .audit);
                     Bearer API keys
    /                the live operations page (dispatcher.http.board); admin key login
    /openapi.json    its OpenAPI 3.1 description (dispatcher.http.openapi)
    /metrics         Prometheus (dispatcher.http.gauges), read scope   /healthz   liveness
    /l/{code}        a tracked short link: 302 to its target, the click recorded
                     (dispatcher.http.redirect); no key

Errors are translated here, at one boundary, into RFC 9457 problems
(`dispatcher.problems`), never a traceback:

    InputError            400  with `field`, `line`, `file` where known
    missing/unknown key   401  (`WWW-Authenticate: Bearer`)
    scope too small       403
    CampaignNotFound,
    OtpNotFound           404
    CampaignCanceled,
    CampaignConflict,
    PlanChanged           409  (also: an Idempotency-Key reused with another body)
    OtpLimited            429  with `Retry-After`
    GatewayError          502  (an OTP the gateway refused or did not answer)
    ConfigError           503  (what is not configured, e.g. OTP_APPLICATION_ID)
    Redis unreachable     503  with `Retry-After`

Hostile clients meet the server's limits (`run`, `SERVER_LIMITS`): a request line or a
header over MAX_LINE_BYTES / MAX_FIELD_BYTES, or more than MAX_HEADERS headers, is a 400
before any handler runs; a connection that has not sent a whole request within IDLE_S is
closed; a body that trickles in (less than BODY_MIN_BYTES in any BODY_WINDOW_S while a
handler waits for it, the slowloris) is a 408 and the connection closes.  None of them
holds a thread: the handlers' threads run only once a body is in.

The handlers run the same producer code as the CLI (`dispatcher.api`, `.control`),
which is synchronous, on threads (`asyncio.to_thread`), over one Redis pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from aiohttp import web

from config.settings import Settings
from core import keys
from core.errors import (
    CampaignCanceled,
    CampaignConflict,
    CampaignNotFound,
    ConfigError,
    GatewayError,
    InputError,
    OtpLimited,
    OtpNotFound,
    PlanChanged,
)
from core.redis_pool import sync_redis
from dispatcher.http import (
    apikeys,
    audit,
    auth,
    board,
    campaigns,
    chart,
    deadletters,
    details,
    gauges,
    messages,
    openapi,
    optouts,
    redirect,
    sessions,
    unknown,
)
from dispatcher.http.state import CLIENT, SETTINGS, call
from dispatcher.problems import problem

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_JSON_BYTES = 16 * 1024 * 1024  # a JSON body; CSV uploads stream and have no such cap
REDIS_POOL = 64  # connections of the API's Redis pool (threads share it)
BEARER = "Bearer "
MAX_LINE_BYTES = 8190  # the request line (path and query): longer is a 400
MAX_FIELD_BYTES = 8190  # one header line: longer is a 400
MAX_HEADERS = 100  # more headers in one request: a 400
IDLE_S = 75.0  # keep-alive, and a connection that never completes its headers, is closed
BODY_WINDOW_S = 10.0  # a body must keep coming: at least BODY_MIN_BYTES in every window
BODY_MIN_BYTES = 1024  # ... while a handler waits for it, else 408 and the connection closes
SERVER_LIMITS: dict[str, Any] = {  # run_app hands them on to aiohttp's server (**kwargs)
    "max_line_size": MAX_LINE_BYTES,
    "max_field_size": MAX_FIELD_BYTES,
    "max_headers": MAX_HEADERS,
}


def make_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_JSON_BYTES, middlewares=[_slow_body, _errors, _auth])
    app[SETTINGS] = settings
    if settings.redis_cluster:
        app[CLIENT] = sync_redis(settings.redis_url, cluster=True)
    else:
        pool = redis.BlockingConnectionPool.from_url(settings.redis_url, max_connections=REDIS_POOL)
        app[CLIENT] = redis.Redis(connection_pool=pool)
    app.router.add_get("/healthz", _health)
    redirect.routes(app, settings.redis_url, settings.redis_cluster, settings.stream_policy)
    app.router.add_get("/openapi.json", openapi.serve)
    campaigns.routes(app.router)
    messages.routes(app.router)
    unknown.routes(app.router)
    audit.routes(app.router)
    chart.routes(app.router)
    details.routes(app.router)
    deadletters.routes(app.router)
    optouts.routes(app.router)
    apikeys.routes(app.router)
    board.routes(app)
    gauges.routes(app)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    app[CLIENT].close()


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routes marked with `state.scoped` need a key of that scope (Bearer, or the
    operations page's cookie with its X-Requested-With header on writes)."""
    scope = getattr(handler, "scope", None)
    if scope is None:
        return await handler(request)
    client = request.app[CLIENT]
    if key := _bearer(request):
        who = auth.caller(await call(client.hget, keys.API_KEYS, auth.digest(key)))
    elif session_id := _session(request):
        who = await call(sessions.caller, client, session_id)
    else:
        return _unauthorized("send an API key: Authorization: Bearer KEY")
    if who is None:
        return _unauthorized("unknown or revoked API key, or an ended session")
    if not who.may(scope):
        return problem(
            403, "forbidden", f"this needs a key of scope {scope!r}; {who.name!r} has {who.scope!r}"
        )
    request[auth.CALLER] = who
    return await handler(request)


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[len(BEARER) :].strip() if header.startswith(BEARER) else ""


def _session(request: web.Request) -> str:
    """The page's session cookie (writes also need the page's X-Requested-With header)."""
    cookie = request.cookies.get(board.COOKIE, "")
    if cookie and (request.method == "GET" or request.headers.get(board.CSRF_HEADER)):
        return cookie
    return ""


def _unauthorized(detail: str) -> web.Response:
    return problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(
            exc.status,
            exc.reason,
            exc.text or exc.reason,
            headers={k: v for k, v in exc.headers.items() if k == "Allow"},
        )
    except InputError as exc:
        file = Path(exc.file).name  # an upload's own name, never our temporary path
        where = {
            k: v
            for k, v in (("field", exc.field), ("line", exc.line), ("file", file))
            if v not in ("", None)
        }
        return problem(400, "invalid input", exc.reason, headers=None, **where)
    except (CampaignNotFound, OtpNotFound) as exc:
        return problem(404, "not found", str(exc))
    except (CampaignCanceled, CampaignConflict, PlanChanged) as exc:
        return problem(409, "conflict", str(exc))
    except OtpLimited as exc:
        retry = max(1, round(exc.retry_after))
        return problem(
            429,
            "too many requests",
            str(exc),
            retry_after=retry,
            headers={"Retry-After": str(retry)},
        )
    except GatewayError as exc:
        return problem(502, "gateway error", str(exc))
    except ConfigError as exc:  # e.g. OTP asked for with no OTP_APPLICATION_ID
        log.error("%s %s: %s", request.method, request.path, exc)
        return problem(503, "not configured", str(exc))
    except redis.RedisError as exc:
        log.error("%s %s: Redis unavailable: %r", request.method, request.path, exc)
        return problem(503, "service unavailable", "storage unavailable, try again")


class SlowBody(Exception):
    """A request body that stopped coming (under BODY_MIN_BYTES in BODY_WINDOW_S)."""


@web.middleware
async def _slow_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """408 for a body that trickles in: a watch cuts the stream the handler reads."""
    if not request.body_exists:
        return await handler(request)
    watch = asyncio.create_task(_watch_body(request))
    try:
        return await handler(request)
    except SlowBody:
        detail = f"the body came slower than {BODY_MIN_BYTES} bytes in {BODY_WINDOW_S:g}s"
        answer = problem(408, "request timeout", detail)
        answer.force_close()  # nothing more is read from this connection
        return answer
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


async def _watch_body(request: web.Request) -> None:
    stream = request.content
    seen = stream.total_bytes
    while not stream.is_eof():
        await asyncio.sleep(BODY_WINDOW_S)
        waiting = not getattr(stream, "_size", 0)  # nothing unread: the handler waits for it
        if waiting and not stream.is_eof() and stream.total_bytes - seen < BODY_MIN_BYTES:
            where = (request.method, request.path, request.remote)
            log.warning("%s %s from %s: body too slow, answered 408", *where)
            stream.set_exception(SlowBody())
            return
        seen = stream.total_bytes


def run(host: str, port: int, settings: Settings) -> None:
    """Serve until interrupted, with the limits above."""
    web.run_app(
        make_app(settings),
        host=host,
        port=port,
        access_log=None,
        keepalive_timeout=IDLE_S,
        **SERVER_LIMITS,
    )
