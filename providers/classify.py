"""Helpers shared by the provider code tables: rows to verdicts, unknown codes, Retry-After.

Pure functions and one in-process set; no Redis here.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from providers.base import Action, CodeRow, Verdict

log = logging.getLogger("providers.codes")

_seen_unknown: set[tuple[str, str]] = set()
_seen_lock = threading.Lock()


def log_unknown_once(provider: str, code: str, detail: str = "") -> bool:
    """Log an unknown gateway code the first time this process sees it; True if logged."""
    key = (provider, code)
    with _seen_lock:
        if key in _seen_unknown:
            return False
        _seen_unknown.add(key)
    log.warning("unknown %s code %r %s", provider, code, detail)
    return True


def reset_unknown_log() -> None:
    """Forget which unknown codes were logged (for tests)."""
    with _seen_lock:
        _seen_unknown.clear()


def http_rows(url_variable: str) -> tuple[CodeRow, ...]:
    """The HTTP statuses of a whole request that mean the same at every gateway (a wrong
    base URL, a proxy, a failing server); a gateway adds its own rows in front."""
    check = f"check {url_variable}"
    return (
        CodeRow("401", "UNAUTHORIZED", Action.FATAL, "Credentials refused"),
        CodeRow("403", "FORBIDDEN", Action.FATAL, "Not allowed for this account"),
        CodeRow("404", "NOT_FOUND", Action.FATAL, f"No such resource: {check}"),
        CodeRow("405", "METHOD_NOT_ALLOWED", Action.FATAL, f"Wrong method for this URL: {check}"),
        CodeRow("408", "REQUEST_TIMEOUT", Action.RETRY, "The server timed out waiting"),
        CodeRow(
            "413", "PAYLOAD_TOO_LARGE", Action.FATAL, "Request too large: lower SMS_BATCH_SIZE"
        ),
        CodeRow("429", "TOO_MANY_REQUESTS", Action.THROTTLED, "Too many requests", retry_after=1.0),
        CodeRow("500", "INTERNAL_SERVER_ERROR", Action.RETRY, "Gateway error"),
        CodeRow("502", "BAD_GATEWAY", Action.RETRY, "Gateway error"),
        CodeRow("503", "SERVICE_UNAVAILABLE", Action.RETRY, "Gateway unavailable"),
        CodeRow("504", "GATEWAY_TIMEOUT", Action.RETRY, "Gateway timed out"),
    )


def index(rows: Iterable[CodeRow]) -> dict[str, CodeRow]:
    """Rows by code; the first row wins when a code is listed twice."""
    table: dict[str, CodeRow] = {}
    for row in rows:
        table.setdefault(row.code, row)
    return table


def to_verdict(row: CodeRow, action: Action | None = None, **changes: Any) -> Verdict:
    """The verdict a table row gives, optionally with another action or fields."""
    act = action or row.action
    verdict = Verdict(
        action=act,
        code=row.code,
        name=row.name,
        description=row.description,
        permanent=act is Action.PERMANENT,
        suppress=row.suppress and act is Action.PERMANENT,
        retry_after=row.retry_after if act in (Action.RETRY, Action.THROTTLED) else None,
        per_destination=row.per_destination and act is Action.FATAL,
    )
    return replace(verdict, **changes) if changes else verdict


def unknown_verdict(action: Action, code: str, name: str = "", why: str = "") -> Verdict:
    """The verdict for a code no table knows."""
    desc = f"unknown code, classified by {why}" if why else "unknown code"
    return Verdict(
        action=action,
        code=code,
        name=name,
        description=desc,
        permanent=action is Action.PERMANENT,
    )


MAX_RETRY_AFTER_S = 86_400.0  # a longer (or infinite) Retry-After waits this long


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), at most a day;
    None if unusable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return None if math.isnan(seconds) else min(MAX_RETRY_AFTER_S, max(0.0, seconds))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(MAX_RETRY_AFTER_S, max(0.0, (when - (now or datetime.now(UTC))).total_seconds()))


def parse_retry_after(
    value: str | None, default: float = 1.0, now: datetime | None = None
) -> float:
    """Seconds from a Retry-After header; `default` when it is missing or unusable."""
    seconds = retry_after_seconds(value, now)
    return default if seconds is None else seconds
