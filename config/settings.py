"""Settings from the environment, validated once at start-up.

Every variable is documented in `.env.example`.  A bad value raises
`ConfigError` naming the variable; secrets (passwords, API keys) are held
here and never printed: `Settings.redacted()` is what logs and `status` show.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from core.errors import ConfigError, redact_url
from core.limits.spec import Limit, Rate, parse_duration
from core.outcomes import StreamPolicy

DEFAULT_ANTS_BASE_URL = "http://127.0.0.1:8099"
DEFAULT_REGION = "TH"
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10000
# SmsManager answers 503 ("not processed") to a request it could not finish in 30 s: our
# timeout sits above it, so a slow request ends as that definite answer, not an unknown
DEFAULT_HTTP_TIMEOUT = 35.0
DEFAULT_SHUTDOWN_TIMEOUT_MS = 45_000  # longer than a request: batches in hand can finish
# Redis commands one worker process has in flight for campaign batches at once: what a
# transactional command can find queued ahead of it in Redis (workers.runtime, the lanes)
DEFAULT_BULK_REDIS_CONNECTIONS = 2
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_VALIDITY_MINUTES = 2880  # ANTS default and maximum: 48 hours
DEFAULT_OUTCOME_MAXLEN = 1_000_000
DEFAULT_FINAL_TTL = 7 * 86400
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3  # an HTTP CSV upload: 10M rows are ~240 MiB
MAX_UPLOAD_BYTES = 1024**4
DEFAULT_OPTOUT_LEARNED_DAYS = 90.0  # a number a gateway called bad: numbers get reassigned
DEFAULT_PRICES = str(Path(__file__).with_name("prices.csv"))  # per country and provider (plan)
DEFAULT_RESEND_DELAY = 900  # s before a temporarily undelivered message is sent again
DEFAULT_RESEND_MAX = 1  # resends per original message
MAX_RESENDS = 10
DEFAULT_EXPIRY_GRACE = 7200  # s after the validity end before an open message is EXPIRED
DEFAULT_TRANSACTIONAL_SHARE = 0.2  # of SMS_RATE, kept for the transactional queue and OTPs
MAX_TRANSACTIONAL_SHARE = 0.9
MAX_CONCURRENCY = 1000
SECRET_FIELDS = frozenset(
    {"ants_password", "ants_api_key", "webhook_password", "smsmanager_api_key", "smsc_password"}
)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
BROKER_SCHEMES = ("amqp://", "amqps://", *REDIS_SCHEMES)
SENDER_RE = re.compile(r"^\S{1,15}$")  # plausible anywhere; each provider checks its own rule
DEFAULT_PROVIDER = "ants"
DEFAULT_SMSMANAGER_BASE_URL = "https://http-api.smsmanager.cz"
# SmsManager's two hosts differ in their first label only (http-api., xml-api.)
SMSMANAGER_HTTP_HOST, SMSMANAGER_XML_HOST = "://http-api.", "://xml-api."
DEFAULT_SMSC_BASE_URL = "https://smsc.ru"
# SMSC.ru's per-minute limits (error 9: a repeated send, a second mass status request):
# how long its "minute" lasts.  Only a gateway with a shorter minute (a sandbox) wants less.
DEFAULT_SMSC_WINDOW_S = 60.0
PROVIDER_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# failover on health (see workers/health.py): a provider is passed over for new batches
# when its last SMS_FAILOVER_IN_A_ROW requests all failed, or when, over the last
# SMS_FAILOVER_WINDOW, at least SMS_FAILOVER_MIN_REQUESTS requests went to it and
# SMS_FAILOVER_ERROR_RATE of them failed, or SMS_FAILOVER_SLOW_SHARE of them took longer
# than SMS_FAILOVER_SLOW_MS (GOV.UK Notify: 15% slower than 5 minutes)
DEFAULT_FAILOVER_IN_A_ROW = 10
DEFAULT_WINDOW_TIMEZONE = "UTC"  # delivery windows, for a number whose zone is unknown
DEFAULT_FAILOVER_WINDOW_MS = 300_000
DEFAULT_FAILOVER_MIN_REQUESTS = 20
DEFAULT_FAILOVER_ERROR_RATE = 0.3
DEFAULT_FAILOVER_SLOW_SHARE = 0.15
DEFAULT_FAILOVER_SLOW_MS = 10_000
DEFAULT_FAILOVER_PROBE_MS = 60_000  # an unhealthy provider gets one probe batch this often
DEFAULT_LINK_TTL = 30 * 86400  # s a tracked short link answers (SMS_LINK_TTL)
MAX_LINK_TTL = 366 * 86400
MAX_LINK_BASE_CHARS = 100  # every short link carries it: a long one costs SMS parts


@dataclass(frozen=True)
class Route:
    """Destinations a route applies to (country prefix, or sender id) and its providers."""

    prefix: str = ""  # international digits, e.g. "66"; "" with no sender: every number
    sender: str = ""
    providers: tuple[str, ...] = ()

    def matches(self, number: str, sender: str) -> bool:
        if self.sender:
            return sender == self.sender
        return number.startswith(self.prefix)


@dataclass(frozen=True)
class Settings:
    redis_url: str = ""
    broker_url: str = ""  # SMS_BROKER_URL: the queues' broker (amqp:// or redis://); "": REDIS_URL
    redis_cluster: bool = False  # SMS_REDIS_CLUSTER: REDIS_URL is a node of a Redis Cluster
    ants_base_url: str = DEFAULT_ANTS_BASE_URL
    ants_username: str = ""
    ants_password: str = ""
    ants_api_key: str = ""
    provider: str = DEFAULT_PROVIDER  # SMS_PROVIDER: campaigns without a choice or route
    routes: tuple[Route, ...] = ()  # SMS_ROUTES, most specific first
    smsmanager_base_url: str = DEFAULT_SMSMANAGER_BASE_URL
    smsmanager_xml_url: str = ""  # SMSMANAGER_XML_URL; "": see smsmanager_xml_base_url
    smsmanager_api_key: str = ""
    smsmanager_gateway: str = "high"  # its delivery quality: high | economy | lowcost | direct
    smsc_base_url: str = DEFAULT_SMSC_BASE_URL
    smsc_login: str = ""
    smsc_password: str = ""
    smsc_window_s: float = DEFAULT_SMSC_WINDOW_S  # SMSC_WINDOW_S
    failover_window_ms: int = DEFAULT_FAILOVER_WINDOW_MS
    failover_min_requests: int = DEFAULT_FAILOVER_MIN_REQUESTS
    failover_in_a_row: int = DEFAULT_FAILOVER_IN_A_ROW
    window_timezone: str = DEFAULT_WINDOW_TIMEZONE
    failover_error_rate: float = DEFAULT_FAILOVER_ERROR_RATE
    failover_slow_share: float = DEFAULT_FAILOVER_SLOW_SHARE
    failover_slow_ms: int = DEFAULT_FAILOVER_SLOW_MS
    failover_probe_ms: int = DEFAULT_FAILOVER_PROBE_MS
    sender: str = "InfoSMS"
    region: str = DEFAULT_REGION
    batch_size: int = DEFAULT_BATCH_SIZE
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    public_url: str = ""  # where people reach the API and page (https: its cookie is Secure)
    link_base: str = ""  # SMS_LINK_BASE: public origin of tracked links (dispatcher.links)
    link_ttl: int = DEFAULT_LINK_TTL  # SMS_LINK_TTL: how long a short link answers, s
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    validity_minutes: int = DEFAULT_VALIDITY_MINUTES
    optout_learned_days: float = DEFAULT_OPTOUT_LEARNED_DAYS
    prices: str = DEFAULT_PRICES
    notify_url: str = ""
    notify_content_type: str = "application/json"
    callback_data: str = ""
    outcome_maxlen: int = DEFAULT_OUTCOME_MAXLEN
    final_ttl: int = DEFAULT_FINAL_TTL
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # SMS_MAX_UPLOAD_BYTES: a bigger one is a 413
    outcome_outbox: bool = False  # events via each campaign's outbox (core.outbox): a cluster
    worker_processes: int = 2
    worker_threads: int = 8
    bulk_redis_connections: int = DEFAULT_BULK_REDIS_CONNECTIONS
    heartbeat_timeout_ms: int = 5000
    shutdown_timeout_ms: int = DEFAULT_SHUTDOWN_TIMEOUT_MS
    maintenance_chance: int = 100_000
    metrics_port: int = 0  # Prometheus exposition of the workers; 0: off
    webhook_username: str = ""
    webhook_password: str = ""
    resend_temporary: bool = False
    resend_delay: int = DEFAULT_RESEND_DELAY
    resend_max: int = DEFAULT_RESEND_MAX
    expiry_grace: int = DEFAULT_EXPIRY_GRACE
    rate: Rate | None = None  # account throughput in SMS parts; None: unlimited
    burst: int | None = None  # parts beyond the steady rate; None: core.limits.buckets' default
    sender_rate: Rate | None = None  # per sender id, on top of the account rate
    transactional_share: float = DEFAULT_TRANSACTIONAL_SHARE
    flood_varied: Limit | None = None  # None: the provider's own (its profile)
    flood_identical: Limit | None = None
    flood_enabled: bool = True
    max_concurrency: int = 0  # concurrent gateway requests per account; 0: no limit
    otp_application_id: str = ""
    otp_message_id: str = ""
    # OTP limits; None: the OTP gateway's own default (providers.otp.OtpLimits.chosen)
    otp_send_per_phone: Limit | None = None
    otp_send_per_app: Limit | None = None
    otp_verify_per_phone: Limit | None = None
    otp_pin_attempts: int | None = None
    otp_pin_ttl_ms: int | None = None

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, with every secret replaced by '***'."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            value = str(value) if isinstance(value, Limit) else value
            if f.name.endswith("_url") and value:
                value = redact_url(value)
            out[f.name] = "***" if f.name in SECRET_FIELDS and value else value
        return out

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def stream_policy(self) -> StreamPolicy:
        """How the outcome stream is kept: SMS_OUTCOME_MAXLEN, SMS_FINAL_TTL,
        SMS_OUTCOME_OUTBOX."""
        return StreamPolicy(
            maxlen=self.outcome_maxlen,
            final_ttl=self.final_ttl,
            outbox=self.outcome_outbox or self.redis_cluster,
        )

    @property
    def smsmanager_xml_base_url(self) -> str:
        """Where SmsManager's XML API is: SMSMANAGER_XML_URL, else the xml-api host beside
        SMSMANAGER_BASE_URL (https://xml-api.smsmanager.cz by default); a base URL that is
        not an http-api host (a sandbox, a proxy) is taken to serve both APIs."""
        if self.smsmanager_xml_url:
            return self.smsmanager_xml_url
        return self.smsmanager_base_url.replace(SMSMANAGER_HTTP_HOST, SMSMANAGER_XML_HOST, 1)


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}, got {value}")
    return value


def _float(name: str, raw: str, lo: float, hi: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}, got {value}")
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"expected 0 or 1 (true/false), got {raw!r}")


def _share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a share such as 0.2, got {raw!r}") from None
    if not 0.0 <= value <= MAX_TRANSACTIONAL_SHARE:
        raise ConfigError(name, f"must be between 0 and {MAX_TRANSACTIONAL_SHARE}, got {value}")
    return value


def _rate(name: str, raw: str) -> Rate:
    limit = Limit.parse(raw, name)
    return Rate(limit.attempts, limit.window_ms)


def check_otp(settings: Settings) -> None:
    """The 2FA application and message template ids the OTP API needs."""
    for name, value in (
        ("OTP_APPLICATION_ID", settings.otp_application_id),
        ("OTP_MESSAGE_ID", settings.otp_message_id),
    ):
        if not value:
            raise ConfigError(name, "not set: create a 2FA application and message template")


SMSMANAGER_GATEWAYS = ("high", "economy", "lowcost", "direct")


def _smsmanager_gateway(name: str, raw: str) -> str:
    if raw not in SMSMANAGER_GATEWAYS:
        raise ConfigError(name, f"must be one of {', '.join(SMSMANAGER_GATEWAYS)}, got {raw!r}")
    return raw


def _timezone(name: str, raw: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, f"not a time zone: {raw!r} (e.g. Asia/Bangkok)") from None
    return raw


def _fraction(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a share such as 0.3, got {raw!r}") from None
    if not 0.0 < value <= 1.0:
        raise ConfigError(name, f"must be above 0 and at most 1, got {value}")
    return value


def _provider(name: str, raw: str) -> str:
    if not PROVIDER_RE.match(raw):
        raise ConfigError(name, f"expected a provider name such as ants, got {raw!r}")
    return raw


def _routes(name: str, raw: str) -> tuple[Route, ...]:
    """`66=ants,smsc; 420=smsmanager; sender:Alerts=smsc; *=ants` -> routes, most specific
    first (a sender before any prefix, longer prefixes before shorter, `*` last)."""
    routes = []
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        key, eq, names = entry.partition("=")
        providers = tuple(_provider(name, n.strip()) for n in names.split(",") if n.strip())
        key = key.strip()
        if not eq or not providers:
            raise ConfigError(name, f"expected KEY=provider[,provider...], got {entry!r}")
        if key.startswith("sender:") and key[7:]:
            routes.append(Route(sender=key[7:], providers=providers))
        elif key == "*" or key.isdigit():
            routes.append(Route(prefix="" if key == "*" else key, providers=providers))
        else:
            raise ConfigError(
                name, f"a route is a country prefix (digits), sender:NAME or *, got {key!r}"
            )
    return tuple(sorted(routes, key=lambda r: (not r.sender, -len(r.prefix))))


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    if not raw.startswith(schemes):
        raise ConfigError(name, f"must start with one of {', '.join(schemes)}")
    return raw.rstrip("/")


def _link_base(name: str, raw: str) -> str:
    """An origin such as https://s.example.com (a path prefix is allowed; no query,
    fragment, user or spaces): every short link is it, /l/ and a code."""
    from urllib.parse import urlsplit

    base = _url(name, raw, ("http://", "https://"))
    parts = urlsplit(base)
    bad = parts.query or parts.fragment or "@" in parts.netloc or any(c.isspace() for c in base)
    if bad or not parts.hostname:
        raise ConfigError(name, f"expected an origin such as https://s.example.com, got {raw!r}")
    if len(base) > MAX_LINK_BASE_CHARS:
        raise ConfigError(name, f"at most {MAX_LINK_BASE_CHARS} characters, got {len(base)}")
    return base


def _link_ttl(name: str, raw: str) -> int:
    seconds = parse_duration(raw, name) // 1000
    if not 60 <= seconds <= MAX_LINK_TTL:
        raise ConfigError(name, f"must be between 1m and {MAX_LINK_TTL // 86400}d, got {raw!r}")
    return seconds


def check_sender(name: str, raw: str) -> str:
    if not SENDER_RE.match(raw):
        raise ConfigError(name, "sender must be 1 to 11 characters without spaces")
    return raw


def _region(name: str, raw: str) -> str:
    import phonenumbers

    region = raw.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(name, f"unknown region code {raw!r} (ISO 3166 alpha-2, e.g. TH)")
    return region


def _content_type(name: str, raw: str) -> str:
    if raw not in ("application/json", "application/xml"):
        raise ConfigError(name, "must be application/json or application/xml")
    return raw


# variable -> (Settings field, parser(variable, raw value))
_PARSERS: dict[str, tuple[str, Callable[[str, str], Any]]] = {  # variable: (field, parser)
    "REDIS_URL": ("redis_url", lambda n, v: _url(n, v, REDIS_SCHEMES)),
    "SMS_BROKER_URL": ("broker_url", lambda n, v: _url(n, v, BROKER_SCHEMES)),
    "ANTS_BASE_URL": ("ants_base_url", lambda n, v: _url(n, v, ("http://", "https://"))),
    "ANTS_USERNAME": ("ants_username", lambda n, v: v),
    "ANTS_PASSWORD": ("ants_password", lambda n, v: v),
    "ANTS_API_KEY": ("ants_api_key", lambda n, v: v),
    "SMS_PROVIDER": ("provider", _provider),
    "SMS_ROUTES": ("routes", _routes),
    "SMSMANAGER_BASE_URL": (
        "smsmanager_base_url",
        lambda n, v: _url(n, v, ("http://", "https://")),
    ),
    "SMSMANAGER_XML_URL": ("smsmanager_xml_url", lambda n, v: _url(n, v, ("http://", "https://"))),
    "SMSMANAGER_API_KEY": ("smsmanager_api_key", lambda n, v: v),
    "SMSMANAGER_GATEWAY": ("smsmanager_gateway", _smsmanager_gateway),
    "SMSC_BASE_URL": ("smsc_base_url", lambda n, v: _url(n, v, ("http://", "https://"))),
    "SMSC_LOGIN": ("smsc_login", lambda n, v: v),
    "SMSC_PASSWORD": ("smsc_password", lambda n, v: v),
    "SMSC_WINDOW_S": ("smsc_window_s", lambda n, v: _float(n, v, 1, 3600)),
    "SMS_FAILOVER_WINDOW": ("failover_window_ms", lambda n, v: parse_duration(v, n)),
    "SMS_FAILOVER_MIN_REQUESTS": ("failover_min_requests", lambda n, v: _int(n, v, 1, 10**6)),
    "SMS_FAILOVER_IN_A_ROW": ("failover_in_a_row", lambda n, v: _int(n, v, 1, 10**6)),
    "SMS_WINDOW_TIMEZONE": ("window_timezone", lambda n, v: _timezone(n, v)),
    "SMS_FAILOVER_ERROR_RATE": ("failover_error_rate", lambda n, v: _fraction(n, v)),
    "SMS_FAILOVER_SLOW_SHARE": ("failover_slow_share", lambda n, v: _fraction(n, v)),
    "SMS_FAILOVER_SLOW_MS": ("failover_slow_ms", lambda n, v: _int(n, v, 1, 3_600_000)),
    "SMS_FAILOVER_PROBE_AFTER": ("failover_probe_ms", lambda n, v: parse_duration(v, n)),
    "SMS_SENDER": ("sender", check_sender),
    "SMS_REGION": ("region", _region),
    "SMS_BATCH_SIZE": ("batch_size", lambda n, v: _int(n, v, 1, MAX_BATCH_SIZE)),
    "SMS_HTTP_TIMEOUT": ("http_timeout", lambda n, v: _float(n, v, 0.1, 300)),
    "SMS_PUBLIC_URL": ("public_url", lambda n, v: _url(n, v, ("http://", "https://"))),
    "SMS_LINK_BASE": ("link_base", _link_base),
    "SMS_LINK_TTL": ("link_ttl", _link_ttl),
    "SMS_MAX_ATTEMPTS": ("max_attempts", lambda n, v: _int(n, v, 1, 100)),
    "SMS_VALIDITY_MINUTES": ("validity_minutes", lambda n, v: _int(n, v, 1, 2880)),
    "SMS_OPTOUT_LEARNED_DAYS": ("optout_learned_days", lambda n, v: _float(n, v, 0, 3650)),
    "SMS_PRICES": ("prices", lambda n, v: v.strip()),
    "SMS_NOTIFY_URL": ("notify_url", lambda n, v: _url(n, v, ("http://", "https://"))),
    "SMS_NOTIFY_CONTENT_TYPE": ("notify_content_type", _content_type),
    "SMS_CALLBACK_DATA": ("callback_data", lambda n, v: v[:4000]),
    "SMS_OUTCOME_MAXLEN": ("outcome_maxlen", lambda n, v: _int(n, v, 1000, 10**9)),
    "SMS_FINAL_TTL": ("final_ttl", lambda n, v: _int(n, v, 60, 10**8)),
    "SMS_MAX_UPLOAD_BYTES": (
        "max_upload_bytes",
        lambda n, v: _int(n, v, 1024, MAX_UPLOAD_BYTES),
    ),
    "SMS_OUTCOME_OUTBOX": ("outcome_outbox", _bool),
    "SMS_REDIS_CLUSTER": ("redis_cluster", _bool),
    "SMS_WORKER_PROCESSES": ("worker_processes", lambda n, v: _int(n, v, 1, 64)),
    "SMS_WORKER_THREADS": ("worker_threads", lambda n, v: _int(n, v, 1, 256)),
    "SMS_BULK_REDIS_CONNECTIONS": ("bulk_redis_connections", lambda n, v: _int(n, v, 1, 64)),
    "SMS_HEARTBEAT_TIMEOUT_MS": ("heartbeat_timeout_ms", lambda n, v: _int(n, v, 1000, 600000)),
    "SMS_MAINTENANCE_CHANCE": ("maintenance_chance", lambda n, v: _int(n, v, 0, 1000000)),
    "SMS_SHUTDOWN_TIMEOUT_MS": ("shutdown_timeout_ms", lambda n, v: _int(n, v, 1000, 3_600_000)),
    "SMS_METRICS_PORT": ("metrics_port", lambda n, v: _int(n, v, 0, 65535)),
    "WEBHOOK_USERNAME": ("webhook_username", lambda n, v: v),
    "WEBHOOK_PASSWORD": ("webhook_password", lambda n, v: v),
    "SMS_RESEND_TEMPORARY": ("resend_temporary", _bool),
    "SMS_RESEND_DELAY": ("resend_delay", lambda n, v: _int(n, v, 0, 86400)),
    "SMS_RESEND_MAX": ("resend_max", lambda n, v: _int(n, v, 1, MAX_RESENDS)),
    "SMS_EXPIRY_GRACE": ("expiry_grace", lambda n, v: _int(n, v, 0, 7 * 86400)),
    "SMS_RATE": ("rate", _rate),
    "SMS_BURST": ("burst", lambda n, v: _int(n, v, 0, 10**6)),
    "SMS_SENDER_RATE": ("sender_rate", _rate),
    "SMS_TRANSACTIONAL_SHARE": ("transactional_share", _share),
    "SMS_FLOOD_VARIED": ("flood_varied", lambda n, v: Limit.parse(v, n)),
    "SMS_FLOOD_IDENTICAL": ("flood_identical", lambda n, v: Limit.parse(v, n)),
    "SMS_FLOOD_ENABLED": ("flood_enabled", _bool),
    "SMS_MAX_CONCURRENCY": ("max_concurrency", lambda n, v: _int(n, v, 0, MAX_CONCURRENCY)),
    "OTP_APPLICATION_ID": ("otp_application_id", lambda n, v: v),
    "OTP_MESSAGE_ID": ("otp_message_id", lambda n, v: v),
    "OTP_SEND_PER_PHONE": ("otp_send_per_phone", lambda n, v: Limit.parse(v, n)),
    "OTP_SEND_PER_APP": ("otp_send_per_app", lambda n, v: Limit.parse(v, n)),
    "OTP_VERIFY_PER_PHONE": ("otp_verify_per_phone", lambda n, v: Limit.parse(v, n)),
    "OTP_PIN_ATTEMPTS": ("otp_pin_attempts", lambda n, v: _int(n, v, 1, 1000)),
    "OTP_PIN_TTL": ("otp_pin_ttl_ms", lambda n, v: parse_duration(v, n)),
}


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, (attr, parse) in _PARSERS.items():
        raw = env.get(name, "").strip()
        if raw:
            values[attr] = parse(name, raw)
    settings = Settings(**values)
    _check_credentials(settings)
    _check_smsc(settings)
    _check_webhook(settings)
    _check_cluster(settings)
    return settings


def _check_cluster(settings: Settings) -> None:
    if settings.redis_cluster and not settings.broker_url.startswith("amqp"):
        raise ConfigError(
            "SMS_BROKER_URL",
            "on a Redis Cluster (SMS_REDIS_CLUSTER=1) the "
            "queues go to RabbitMQ: set SMS_BROKER_URL=amqp://...",
        )


def _check_webhook(settings: Settings) -> None:
    if bool(settings.webhook_username) != bool(settings.webhook_password):
        missing = "WEBHOOK_PASSWORD" if settings.webhook_username else "WEBHOOK_USERNAME"
        raise ConfigError(missing, "set both WEBHOOK_USERNAME and WEBHOOK_PASSWORD, or neither")


def _check_smsc(settings: Settings) -> None:
    if bool(settings.smsc_login) != bool(settings.smsc_password):
        missing = "SMSC_PASSWORD" if settings.smsc_login else "SMSC_LOGIN"
        raise ConfigError(missing, "set both SMSC_LOGIN and SMSC_PASSWORD, or neither")


def _check_credentials(settings: Settings) -> None:
    if bool(settings.ants_username) != bool(settings.ants_password):
        missing = "ANTS_PASSWORD" if settings.ants_username else "ANTS_USERNAME"
        raise ConfigError(missing, "set both ANTS_USERNAME and ANTS_PASSWORD, or ANTS_API_KEY")


# each provider's credentials, as an error names them (any one way to sign in is enough);
# whether they are set is the provider's own `configured` (providers.registry)
CREDENTIALS = {
    "ants": "ANTS_USERNAME and ANTS_PASSWORD, or ANTS_API_KEY",
    "smsmanager": "SMSMANAGER_API_KEY",
    "smsc": "SMSC_LOGIN and SMSC_PASSWORD",
}


def require_credentials(
    settings: Settings, configured: Callable[[str], bool], chosen: Sequence[str] = ()
) -> None:
    """A ConfigError naming the missing variables unless each provider that SMS_PROVIDER,
    SMS_ROUTES or the command (`chosen`, e.g. --provider) names has its credentials set
    (`configured(name)`); every process runs it at start."""
    named: dict[str, str] = {}
    for variable, name in (
        ("SMS_PROVIDER", settings.provider),
        *(("SMS_ROUTES", p) for r in settings.routes for p in r.providers),
        *(("--provider", p) for p in chosen),
    ):
        named.setdefault(name, variable)
    missing = {name: variable for name, variable in named.items() if not configured(name)}
    if missing:
        variables = "; ".join(CREDENTIALS.get(name, f"{name}'s credentials") for name in missing)
        why = ", ".join(f"{variable} names {name}" for name, variable in missing.items())
        raise ConfigError(variables, f"not set, but {why}: set them or name another provider")
