"""The delivery-report webhook: an aiohttp app the gateway POSTs its callbacks to.

Routes: `POST /dlr` and `/dlr/ants` (ANTS 2018 `results[]` or newer `details[]`,
JSON or XML, any declared encoding the parser handles), `POST|GET /dlr/smsmanager`,
`POST /dlr/smsc?fmt=N`, and `GET /healthz`.

Each request is one parse and one `record.lua` call, so it answers fast.  It is
idempotent (a repeated report changes nothing) and order-tolerant (the rank
rule: see `dispatcher.reports.ingest`).  Answers: 200 with counts; 400 with the
parser's reason for a body it refuses (malformed, XXE, DTD, wrong types); 401
without the right Basic credentials; 413 over MAX_REPORT_BYTES; 503 when Redis
fails, so the gateway tries again.

Authentication is HTTP Basic with WEBHOOK_USERNAME / WEBHOOK_PASSWORD.  Without
them the app refuses to be built unless `insecure_no_auth` is set explicitly
(`smsdispatch webhook --insecure-no-auth`), and then it says so loudly.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import prometheus_client
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from config.settings import Settings
from dispatcher.errors import ConfigError
from dispatcher.outcomes import StreamPolicy
from dispatcher.reports import ingest
from dispatcher.reports.resend import Enqueue, Resender
from workers.providers.reports import MAX_REPORT_BYTES, DeliveryReport, ReportParseError

log = logging.getLogger(__name__)

REDIS_KEY = web.AppKey("redis", aioredis.Redis)
OPEN_PATHS = frozenset({"/healthz", "/metrics"})  # no auth: probes and Prometheus scrapes
RESENDER_KEY = web.AppKey("resender", Resender)
REALM = 'Basic realm="smsdispatch delivery reports"'
JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    settings: Settings,
    *,
    client: aioredis.Redis | None = None,
    insecure_no_auth: bool = False,
    enqueue: Enqueue | None = None,
) -> web.Application:
    """The webhook app. `client` defaults to one on REDIS_URL, opened on the app's loop."""
    middlewares = [_basic_auth(settings, insecure_no_auth)]
    app = web.Application(client_max_size=MAX_REPORT_BYTES, middlewares=middlewares)
    app.cleanup_ctx.append(_redis_ctx(settings, client, enqueue))
    policy = StreamPolicy(maxlen=settings.outcome_maxlen, final_ttl=settings.final_ttl)
    app[METRICS_KEY] = _Metrics()
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    for path, provider in (("/dlr", "ants"), *((f"/dlr/{p}", p) for p in ingest.PROVIDERS)):
        app.router.add_post(path, _receiver(provider, policy))
    app.router.add_get("/dlr/smsmanager", _receiver(ingest.SMSMANAGER, policy, query=True))
    return app


def _redis_ctx(
    settings: Settings, client: aioredis.Redis | None, enqueue: Enqueue | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        own = client is None
        if own and not settings.redis_url:
            raise ConfigError("REDIS_URL", "not set: the webhook needs the dispatcher's Redis")
        app[REDIS_KEY] = aioredis.Redis.from_url(settings.redis_url) if own else client
        if settings.resend_temporary and enqueue is not None:
            app[RESENDER_KEY] = Resender(app[REDIS_KEY], settings, enqueue)
        yield
        if own:
            await app[REDIS_KEY].aclose()

    return ctx


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
            return web.Response(status=401, text="unauthorized\n",
                                headers={"WWW-Authenticate": REALM})  # fmt: skip
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
            "sms_reports_total", "Delivery reports received, by provider and state.",
            ["provider", "state"], registry=self.registry,
        )  # fmt: skip
        self.refused = prometheus_client.Counter(
            "sms_reports_refused_total", "Report bodies refused (400), by provider.",
            ["provider"], registry=self.registry,
        )  # fmt: skip

    def count(self, provider: str, reports: list[DeliveryReport]) -> None:
        for r in reports:
            self.reports.labels(provider=provider, state=r.state).inc()


METRICS_KEY = web.AppKey("metrics", _Metrics)


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS_KEY].registry
    body = prometheus_client.generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


def _receiver(provider: str, policy: StreamPolicy, *, query: bool = False) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        try:
            reports = await _parse(request, provider, query)
        except ReportParseError as exc:
            log.warning("refused %s report from %s: %s", provider, request.remote, exc)
            request.app[METRICS_KEY].refused.labels(provider=provider).inc()
            return web.Response(status=400, text=f"refused: {exc}\n")
        try:
            applied = await ingest.apply(request.app[REDIS_KEY], reports, policy)
            resent = await _resend(request.app, reports)
        except RedisError as exc:
            log.error("could not record %d %s reports: %r", len(reports), provider, exc)
            return web.Response(status=503, text="storage unavailable, try again\n")
        request.app[METRICS_KEY].count(provider, reports)
        answer = {"received": len(reports), "applied": applied, "resent": resent}
        return web.Response(body=orjson.dumps(answer), content_type=JSON)

    return receive


async def _parse(request: web.Request, provider: str, query: bool) -> list[DeliveryReport]:
    if query:
        return ingest.parse(provider, dict(request.query))
    body = await request.read()  # over client_max_size: aiohttp answers 413 itself
    content_type = request.headers.get("Content-Type", "")
    fmt = request.query.get("fmt", str(ingest.SMSC_DEFAULT_FMT))
    if not fmt.isdigit():
        raise ReportParseError(f"fmt must be 0-3, got {fmt[:10]!r}")
    return ingest.parse(provider, body, content_type, smsc_fmt=int(fmt))


async def _resend(app: web.Application, reports: list[DeliveryReport]) -> int:
    resender = app.get(RESENDER_KEY)
    return await resender.resend(reports) if resender is not None else 0


def run(host: str, port: int, settings: Settings, *, insecure_no_auth: bool = False) -> None:
    """Serve until interrupted (the `webhook` process of the Procfile)."""
    enqueue = _broker_enqueue(settings) if settings.resend_temporary else None
    app = make_app(settings, insecure_no_auth=insecure_no_auth, enqueue=enqueue)
    log.info("delivery-report webhook on http://%s:%d/dlr", host, port)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


def _broker_enqueue(settings: Settings) -> Enqueue:
    from workers.broker import enqueue_batch, make_broker

    broker = make_broker(settings)
    return lambda batch, delay_ms: enqueue_batch(broker, batch, delay_ms)
