"""INTERIM minimal ANTS classification (replaced by the full code table)."""

from __future__ import annotations

from typing import Any

from workers.providers.base import Action, Verdict


def classify_status(status: dict[str, Any], error: dict[str, Any] | None = None) -> Verdict:
    group, sid = int(status.get("groupId", -1)), int(status.get("id", -1))
    name = str(status.get("name", ""))
    if group in (0, 1, 3):
        return Verdict(Action.ACCEPTED, str(sid), name)
    if sid == 23:
        return Verdict(Action.ALREADY_DONE, str(sid), name)
    if sid in (20,):
        return Verdict(Action.THROTTLED, str(sid), name, retry_after=60.0)
    if sid == 21:
        return Verdict(Action.RETRY, str(sid), name)
    if sid in (12, 19, 11):
        return Verdict(Action.FATAL, str(sid), name)
    return Verdict(Action.PERMANENT, str(sid), name, permanent=True)


def classify_http(status: int, body: bytes = b"", retry_after: str | None = None) -> Verdict | None:
    if status == 200:
        return None
    if status == 429:
        return Verdict(Action.THROTTLED, "429", retry_after=float(retry_after or 1))
    if status in (401, 403):
        return Verdict(Action.FATAL, str(status))
    if status == 400:
        return Verdict(Action.PERMANENT, "400", description=body[:300].decode("utf-8", "replace"))
    return Verdict(Action.RETRY, str(status))
