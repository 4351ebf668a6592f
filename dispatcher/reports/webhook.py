"""The delivery-report webhook: an aiohttp app the gateway POSTs its callbacks to.

Routes: `POST /dlr` and `/dlr/ants` (ANTS 2018 `results[]` or newer `details[]`,
JSON or XML, any declared encoding the parser handles), `POST|GET /dlr/smsmanager`,
`POST /dlr/smsc?fmt=N`, and `GET /healthz`.

Each request is one parse and its `record.lua` calls (one per `core.outcomes.CHUNK`
reports), so it answers fast.  It is
idempotent (a repeated report changes nothing) and order-tolerant (the rank
rule: see `dispatcher.reports.ingest`).

One bad record does not cost the good ones.  The good reports of a body are
applied; each refused record (wrong type, unknown status, missing messageId...)
is kept in `sms:reports:bad` (capped at BAD_KEEP entries, shared with the
poller) with its index, field, reason and raw text, the first one of a body
also carrying the body's first BAD_BODY_BYTES, and is counted in
`sms_reports_refused_total`.  Answers:

* 200 `{"received": records in the body, "applied": messages it moved forward,
  "resent": resends enqueued, "refused": [{"index", "reason"}]}` when at least
  one record was good.  A good record naming a message we never sent (no state and
  no send claim: not ours, or its state expired; or a gateway id we never gave) is
  not applied and creates nothing: it is kept in `sms:reports:bad` with its reason
  and counted in `received`, not `applied` (`dispatcher.reports.ingest`);
* 400, a JSON problem (`application/problem+json`: type, title, status,
  detail), when nothing in the body is usable: a malformed envelope (malformed
  or truncated JSON/XML, XXE/DTD, wrong top-level type, no record list, a bad
  `fmt`) or only bad records (then with `refused` too).  The gateway should not
  resend it;
* 401 without the right Basic credentials; 413 over MAX_REPORT_BYTES;
* 503 with `Retry-After` and a JSON problem when Redis fails (including no free
  connection within the pool's wait, or no file descriptor left to open one), or
  when the request waited more than MAX_WAIT_S for its turn (below).  The gateway
  sends it again; nothing else is ever answered 5xx on purpose.

Bursts: a gateway flushing its callback queue can open thousands of requests at
once.  At most MAX_IN_FLIGHT of them are read, parsed and recorded at a time
(the others wait for a slot, holding only their headers), and Redis commands
wait for a free connection of a bounded blocking pool
(`core.redis_pool`) instead of failing when it is full.

Hostile clients: a request line or header over MAX_LINE_BYTES / MAX_FIELD_BYTES, or more
than MAX_HEADERS headers, is a 400 before any handler runs; a connection that has not sent
a whole request within IDLE_S is closed; a body not in within BODY_TIMEOUT_S of its turn
(a slowloris holding a slot) is a 408 and the connection closes, so slow senders cannot
keep the MAX_IN_FLIGHT slots from the gateways.

Authentication is HTTP Basic with WEBHOOK_USERNAME / WEBHOOK_PASSWORD.  Without
them the app refuses to be built unless `insecure_no_auth` is set explicitly
(`smsdispatch webhook --insecure-no-auth`), and then it says so loudly.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import prometheus_client
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from config.settings import Settings
from core import keys, lua
from core.errors import ConfigError
from core.outcomes import StreamPolicy
from core.redis_pool import async_redis, warm_up
from dispatcher.problems import problem as _problem
from dispatcher.reports import ingest
from dispatcher.reports.ingest import BAD_KEEP
from dispatcher.reports.resend import Enqueue, Resender
from providers import registry
from providers.reports import MAX_REPORT_BYTES, DeliveryReport, ReportParseError

log = logging.getLogger(__name__)

REDIS_KEY = web.AppKey("redis", aioredis.Redis)
OPEN_PATHS = frozenset({"/healthz", "/metrics"})  # no auth: probes and Prometheus scrapes
RESENDER_KEY = web.AppKey("resender", Resender)
REALM = 'Basic realm="smsdispatch delivery reports"'
JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_IN_FLIGHT = 256  # requests read, parsed and recorded at once; the others wait for a slot
MAX_WAIT_S = 25.0  # a request that waited longer for a slot is answered 503 (gateways give ~30 s)
BAD_BODY_BYTES = 4096  # of a refused body, this much is kept in sms:reports:bad
BAD_PER_BODY = 100  # refused records of one body kept in sms:reports:bad, at most
LISTEN_BACKLOG = 2048  # pending TCP connections the kernel queues (capped by net.core.somaxconn)
MAX_LINE_BYTES = 8190  # the request line (a GET receipt's query too): longer is a 400
MAX_FIELD_BYTES = 8190  # one header line: longer is a 400
MAX_HEADERS = 100  # more headers in one request: a 400
IDLE_S = 75.0  # keep-alive, and a connection that never completes its headers, is closed
BODY_TIMEOUT_S = 10.0  # a report body (at most MAX_REPORT_BYTES) arrives within this: else 408
SERVER_LIMITS: dict[str, Any] = {  # run_app hands them on to aiohttp's server (**kwargs)
    "max_line_size": MAX_LINE_BYTES,
    "max_field_size": MAX_FIELD_BYTES,
    "max_headers": MAX_HEADERS,
}


@dataclass(frozen=True)
class Backpressure:
    """Back-pressure: at most `slots` requests in progress; a wait over `max_wait` is a 503."""

    slots: asyncio.Semaphore
    limit: int
    max_wait: float


GATE_KEY = web.AppKey("gate", Backpressure)
LEARNED_DAYS_KEY = web.AppKey("optout_learned_days", float)  # SMS_OPTOUT_LEARNED_DAYS
# Failures of the storage step, answered 503: Redis errors (including "no free connection"
# from the pool), and OSErrors such as EMFILE when a burst has used every file descriptor
# and redis-py cannot open a connection (it does not wrap every one into a RedisError).
STORAGE_ERRORS = (RedisError, OSError)


def make_app(
    settings: Settings,
    *,
    client: aioredis.Redis | None = None,
    insecure_no_auth: bool = False,
    enqueue: Enqueue | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    max_wait: float = MAX_WAIT_S,
) -> web.Application:
    """The webhook app.

    `client` defaults to one on REDIS_URL with a blocking connection pool
    (`core.redis_pool.async_redis`), opened on the app's loop.
    `max_in_flight` and `max_wait` set the back-pressure (see the module doc).
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    middlewares = [_basic_auth(settings, insecure_no_auth)]
    app = web.Application(client_max_size=MAX_REPORT_BYTES, middlewares=middlewares)
    app.cleanup_ctx.append(_redis_ctx(settings, client, enqueue))
    policy = settings.stream_policy
    app[METRICS_KEY] = _Metrics()
    app[LEARNED_DAYS_KEY] = settings.optout_learned_days
    app[GATE_KEY] = Backpressure(asyncio.Semaphore(max_in_flight), max_in_flight, max_wait)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    default = settings.provider
    for path, provider in (("/dlr", default), *((f"/dlr/{p}", p) for p in registry.names())):
        app.router.add_post(path, _receiver(provider, policy))
        app.router.add_get(path, _receiver(provider, policy))  # receipts sent as a GET
    return app


def _redis_ctx(
    settings: Settings, client: aioredis.Redis | None, enqueue: Enqueue | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        own = client is None
        if own and not settings.redis_url:
            raise ConfigError("REDIS_URL", "not set: the webhook needs the dispatcher's Redis")
        app[REDIS_KEY] = (
            client
            if client is not None
            else async_redis(settings.redis_url, cluster=settings.redis_cluster)
        )
        if own:
            await _warm_up(app[REDIS_KEY])
        if settings.resend_temporary and enqueue is not None:
            app[RESENDER_KEY] = Resender(app[REDIS_KEY], settings, enqueue)
        yield
        if own:
            await app[REDIS_KEY].aclose()

    return ctx


async def _warm_up(client: aioredis.Redis) -> None:
    """Open what a request needs before the first burst can use every file descriptor.

    That is the pool's connections and the text of `record.lua` (read from disk on
    first use): opened lazily in a burst that has exhausted the process's descriptors,
    they fail with EMFILE and every request is answered 503 until the burst is over.
    """
    lua.script(client, "record")
    try:
        opened = await warm_up(client)
    except STORAGE_ERRORS as exc:  # start anyway: connections are opened again on demand
        log.warning("could not open Redis connections at start (%r); will retry on demand", exc)
    else:
        log.info("%d Redis connections open", opened)


# -- authentication ---------------------------------------------------------------------


def _basic_auth(settings: Settings, insecure_no_auth: bool) -> Callable[..., Awaitable]:
    user, password = settings.webhook_username, settings.webhook_password
    if not (user and password) and not insecure_no_auth:
        raise ConfigError(
            "WEBHOOK_USERNAME",
            "WEBHOOK_USERNAME/WEBHOOK_PASSWORD not set: anyone could post reports; "
            "set them, or pass --insecure-no-auth explicitly",
        )
    if not (user and password):
        log.warning("!!! delivery-report webhook WITHOUT AUTHENTICATION (--insecure-no-auth) !!!")
    expected = f"{user}:{password}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or not (user and password):
            return await handler(request)
        if not hmac.compare_digest(_credentials(request), expected):
            return web.Response(
                status=401, text="unauthorized\n", headers={"WWW-Authenticate": REALM}
            )
        return await handler(request)

    return auth


def _credentials(request: web.Request) -> bytes:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return b""
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b""


# -- receiving --------------------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


class _Metrics:
    """The webhook's Prometheus counters, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.reports = prometheus_client.Counter(
            "sms_reports_total",
            "Delivery reports received, by provider and state.",
            ["provider", "state"],
            registry=self.registry,
        )
        self.refused = prometheus_client.Counter(
            "sms_reports_refused_total",
            "Reports refused, by provider: each bad record, and each body refused whole (400).",
            ["provider"],
            registry=self.registry,
        )
        self.unavailable = prometheus_client.Counter(
            "sms_reports_unavailable_total",
            "Requests answered 503 (the gateway retries), by reason: busy or storage.",
            ["reason"],
            registry=self.registry,
        )

    def count(self, provider: str, reports: list[DeliveryReport]) -> None:
        for r in reports:
            self.reports.labels(provider=provider, state=r.state).inc()


METRICS_KEY = web.AppKey("metrics", _Metrics)


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS_KEY].registry
    body = prometheus_client.generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


def _receiver(provider: str, policy: StreamPolicy) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        gate = request.app[GATE_KEY]
        try:
            async with asyncio.timeout(gate.max_wait):
                await gate.slots.acquire()
        except TimeoutError:
            log.warning(
                "busy: %s report from %s waited %.0fs for one of %d slots, answered 503",
                provider,
                request.remote,
                gate.max_wait,
                gate.limit,
            )
            request.app[METRICS_KEY].unavailable.labels(reason="busy").inc()
            detail = f"more than {gate.limit} requests in progress for {gate.max_wait:g}s"
            return _unavailable(detail)
        try:
            return await _receive(request, provider, policy)
        finally:
            gate.slots.release()

    return receive


async def _receive(request: web.Request, provider: str, policy: StreamPolicy) -> web.Response:
    app, metrics = request.app, request.app[METRICS_KEY]
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            body = await request.read()  # over client_max_size: aiohttp answers 413 itself
    except TimeoutError:
        where = (provider, request.remote, BODY_TIMEOUT_S)
        log.warning("%s report from %s: body not in after %gs, answered 408", *where)
        answer = _problem(408, "request timeout", f"the body took over {BODY_TIMEOUT_S:g}s")
        answer.force_close()  # nothing more is read from this connection
        return answer
    try:
        parsed = ingest.parse(
            provider, body, request.headers.get("Content-Type", ""), dict(request.query)
        )
    except ReportParseError as exc:  # the envelope: nothing in the body can be used
        log.warning("refused %s report from %s: %s", provider, request.remote, exc)
        metrics.refused.labels(provider=provider).inc()
        await _keep_refused(app, provider, body, [_whole(exc)], best_effort=True)
        return _problem(400, "report refused", str(exc))
    rejected = parsed.rejected
    refused = [{"index": e.index, "reason": str(e)} for e in rejected]
    if rejected and not parsed.reports:  # only bad records: refused whole, listing them
        detail = f"no usable report: {len(refused)} records refused, first {rejected[0]}"
        log.warning("refused %s report from %s: %s", provider, request.remote, detail)
        metrics.refused.labels(provider=provider).inc(len(refused))
        await _keep_refused(app, provider, body, [e.as_dict() for e in rejected], best_effort=True)
        return _problem(400, "report refused", detail, refused=refused)
    try:
        await _keep_refused(app, provider, body, [e.as_dict() for e in rejected])
        applied = await ingest.apply(app[REDIS_KEY], parsed.reports, policy, app[LEARNED_DAYS_KEY])
        resent = await _resend(app, parsed.reports)
    except STORAGE_ERRORS as exc:  # the gateway sends the whole body again: all idempotent
        log.error("could not record %d %s reports: %r", len(parsed), provider, exc)
        metrics.unavailable.labels(reason="storage").inc()
        return _unavailable("storage unavailable, try again")
    if rejected:
        log.warning(
            "refused %d of %d %s records from %s (first: %s)",
            len(refused),
            len(parsed) + len(refused),
            provider,
            request.remote,
            rejected[0],
        )
        metrics.refused.labels(provider=provider).inc(len(refused))
    metrics.count(provider, parsed.reports)
    summary = {
        "received": len(parsed) + len(refused),
        "applied": applied,
        "resent": resent,
        "refused": refused,
    }
    return web.Response(body=orjson.dumps(summary), content_type=JSON)


def _whole(exc: ReportParseError) -> dict[str, object]:
    """A body refused whole, as a sms:reports:bad entry."""
    return {"reason": str(exc), **({"code": exc.code} if exc.code else {})}


async def _keep_refused(
    app: web.Application,
    provider: str,
    body: bytes | Mapping[str, str],
    entries: list[dict[str, object]],
    *,
    best_effort: bool = False,
) -> None:
    """Push refused records (or a refused body) to sms:reports:bad, capped like the poller's.

    The first entry of a body carries its first BAD_BODY_BYTES; at most
    BAD_PER_BODY entries per body.  `best_effort`: a Redis error is logged, not
    raised (the body is refused whatever happens; only its copy is lost).
    """
    if not entries:
        return
    if isinstance(body, Mapping):
        raw = urlencode(body)
    else:
        raw = body[:BAD_BODY_BYTES].decode("utf-8", "replace")
    at = int(time.time() * 1000)
    common: dict[str, Any] = {"source": "webhook", "provider": provider, "at": at}
    kept = [{**common, **entry} for entry in entries[:BAD_PER_BODY]]
    kept[0]["body"] = raw[:BAD_BODY_BYTES]
    pipe = app[REDIS_KEY].pipeline(transaction=True)
    pipe.lpush(keys.REPORTS_BAD, *(orjson.dumps(e) for e in reversed(kept)))
    pipe.ltrim(keys.REPORTS_BAD, 0, BAD_KEEP - 1)
    try:
        await pipe.execute()
    except STORAGE_ERRORS as exc:
        if not best_effort:
            raise
        log.error(
            "could not keep %d refused %s records in %s: %r",
            len(kept),
            provider,
            keys.REPORTS_BAD,
            exc,
        )


def _unavailable(detail: str) -> web.Response:
    return _problem(503, "service unavailable", detail)


async def _resend(app: web.Application, reports: list[DeliveryReport]) -> int:
    resender = app.get(RESENDER_KEY)
    return await resender.resend(reports) if resender is not None else 0


def run(host: str, port: int, settings: Settings, *, insecure_no_auth: bool = False) -> None:
    """Serve until interrupted (the `webhook` process of the Procfile)."""
    enqueue = _broker_enqueue(settings) if settings.resend_temporary else None
    app = make_app(settings, insecure_no_auth=insecure_no_auth, enqueue=enqueue)
    log.info("delivery-report webhook on http://%s:%d/dlr", host, port)
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        backlog=LISTEN_BACKLOG,
        keepalive_timeout=IDLE_S,
        **SERVER_LIMITS,
    )


def _broker_enqueue(settings: Settings) -> Enqueue:
    from core.queues import enqueue_batch, make_producer

    broker = make_producer(settings.broker_url, settings.redis_url)
    return lambda batch, delay_ms: enqueue_batch(broker, batch, delay_ms)
