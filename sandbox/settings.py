"""Every knob of the sandbox gateway, with defaults that behave like the real ANTS.

The control endpoints (`POST /_sandbox/faults`, `/_sandbox/flooding`,
`/_sandbox/dlr`, `/_sandbox/settings`) change these at runtime through `update`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sandbox.limits import parse_limit
from sandbox.statuses import OUTCOMES, REJECTED


@dataclass(slots=True)
class InjectRule:
    """Numbers ending in one of `suffixes` (or listed in `numbers`) get `status` `times` times."""

    status: str = "REJECTED_SYSTEM_ERROR"
    suffixes: tuple[str, ...] = ()
    numbers: frozenset[str] = frozenset()
    times: int = 1  # per number; after that the number is accepted normally

    def matches(self, to: str) -> bool:
        return to in self.numbers or (bool(self.suffixes) and to.endswith(self.suffixes))


TIMEOUT_MODES = ("sleep", "drop", "mixed")  # mixed: each timeout hangs or drops, even odds


@dataclass(slots=True)
class FaultSettings:
    """Fault injection for the SMS send endpoints (text/advanced, text/single)."""

    latency_ms: float = 0.0  # answers this late (accepted at once: a client dying meanwhile
    # leaves its messages accepted at the gateway, unbeknown to it)
    jitter_ms: float = 0.0  # plus uniform(0, jitter_ms)
    error_share: float = 0.0  # HTTP 500, decided before accepting anything
    timeout_share: float = 0.0  # accept and record, then hang or drop the connection
    timeout_every: int = 0  # plus every Nth accepted request times out (0: off); unlike the
    # share, it cannot come out as none in a short run
    timeout_mode: str = "sleep"  # "sleep" (answer after timeout_sleep_s) | "drop" | "mixed"
    timeout_sleep_s: float = 35.0  # longer than the client's timeout
    throttle_every: int = 0  # every Nth send request starts a 429 burst (0: off)
    throttle_burst: int = 1  # how many consecutive requests a burst answers 429
    throttle_share: float = 0.0  # plus this random share of requests get 429
    retry_after_s: int = 1  # Retry-After header of the 429s
    inject: list[InjectRule] = field(default_factory=list)


@dataclass(slots=True)
class FloodSettings:
    """The sandbox's own anti-flooding filter (20 varied / 6 identical per hour, per number)."""

    enabled: bool = True
    varied: str = "20/1h"  # limit format
    identical: str = "6/1h"


@dataclass(slots=True)
class DlrSettings:
    """Delivery reports: pushed to notifyUrl and queued once for GET /sms/1/reports."""

    enabled: bool = True
    format: str = "2018"  # "2018" ({results:[...]}) | "new" ({bulkId, details:[...]})
    delay_ms: float = 200.0
    jitter_ms: float = 0.0
    delayed_share: float = 0.0  # share of reports held back by delayed_extra_ms
    delayed_extra_ms: float = 2000.0
    duplicate_share: float = 0.0  # share of reports POSTed twice
    reorder_share: float = 0.0  # share of reports swapped with another one of their batch
    # SmsManager: a receipt 5 half way for this share; ANTS sends its PENDING report only to
    # a message that asked (intermediateReport), never by chance
    intermediate_share: float = 0.0
    outcomes: dict[str, float] = field(
        default_factory=lambda: {"DELIVERED": 0.90, "UNDELIVERABLE": 0.05, "EXPIRED": 0.05}
    )
    batch_size: int = 100  # reports per POST
    tick_ms: float = 20.0
    concurrency: int = 4  # parallel POSTs
    retries: int = 3  # on non-2xx or connection errors
    username: str | None = None  # Basic auth on the POSTs; None: the API credentials
    password: str | None = None
    auth: bool = True
    pull_reports: bool = True  # queue reports for GET /sms/1/reports
    pull_max: int = 1_000_000
    logs_max: int = 100_000  # messageIds kept for GET /sms/1/logs (from acceptance on)


@dataclass(slots=True)
class SandboxSettings:
    """The whole sandbox configuration; `SandboxSettings()` is a realistic default."""

    username: str = "sandbox"
    password: str = "sandbox"
    api_key: str = "sandbox-key"
    accept_status: str = "PENDING"  # "PENDING" (1/26 PENDING_ACCEPTED) | "ACCEPTED" (0/0)
    # True: a messageId accepted before is 23 REJECTED_DUPLICATE_MESSAGE_ID (ANTS).  False
    # (SMSC.ru, SmsManager do not check ids): accepted, billed and reported again, and counted.
    dedupe_ids: bool = True
    credit: float = 1_000_000_000.0
    price_per_part: float = 1.0
    currency: str = "THB"
    bad_prefixes: tuple[str, ...] = ()  # -> 8 REJECTED_PREFIX_MISSING
    blacklist: frozenset[str] = frozenset()  # -> 14 REJECTED_DESTINATION
    seed: int = 1
    freeze_gc: bool = True  # gc.freeze() every second (see sandbox.app.gc_freezer)
    faults: FaultSettings = field(default_factory=FaultSettings)
    flooding: FloodSettings = field(default_factory=FloodSettings)
    dlr: DlrSettings = field(default_factory=DlrSettings)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["blacklist"] = sorted(self.blacklist)
        for rule in data["faults"]["inject"]:
            rule["numbers"] = sorted(rule["numbers"])
        return data


def _coerce(current: Any, value: Any, name: str) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(current, int | float) and not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if isinstance(current, tuple | frozenset) and not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    converters: dict[type, Any] = {float: float, int: int, tuple: tuple, frozenset: frozenset}
    return converters.get(type(current), lambda v: v)(value)


def update(target: Any, data: dict[str, Any]) -> None:
    """Apply a partial JSON update to a settings dataclass; ValueError names the bad field."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    names = {f.name for f in fields(target)}
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"unknown setting {name!r}")
        current = getattr(target, name)
        if name == "inject":
            value = [_rule(item) for item in value]
        elif hasattr(current, "__dataclass_fields__"):
            update(current, value)
            continue
        elif current is None or value is None:
            pass
        else:
            value = _coerce(current, value, name)
        setattr(target, name, value)
    check(target)


def _rule(data: Any) -> InjectRule:
    rule = InjectRule()
    update(rule, data)
    return rule


def check(target: Any) -> None:
    """Reject values the sandbox cannot act on."""
    if isinstance(target, FloodSettings):
        for name in ("varied", "identical"):
            if parse_limit(getattr(target, name)) is None:
                raise ValueError(f"flooding.{name} must be in limit format, e.g. 20/1h")
    if isinstance(target, InjectRule) and target.status not in REJECTED:
        raise ValueError(f"inject status must be one of {sorted(REJECTED)}")
    if isinstance(target, DlrSettings):
        if target.format not in ("2018", "new"):
            raise ValueError("dlr.format must be 2018 or new")
        unknown = set(target.outcomes) - set(OUTCOMES)
        if unknown or not target.outcomes:
            raise ValueError(f"dlr.outcomes keys must be among {sorted(OUTCOMES)}")
    if isinstance(target, SandboxSettings) and target.accept_status not in ("PENDING", "ACCEPTED"):
        raise ValueError("accept_status must be PENDING or ACCEPTED")
    if isinstance(target, FaultSettings) and target.timeout_mode not in TIMEOUT_MODES:
        raise ValueError(f"faults.timeout_mode must be one of {', '.join(TIMEOUT_MODES)}")
