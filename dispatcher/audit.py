"""The audit trail: every control action, who took it, when and on what.

Pause, resume, cancel, a parked destination dropped, a dead-letter replay, an unknown
message resent or dropped, an API key created or revoked, an opt-out added, removed or
imported: each is one entry of the `sms:audit` stream (kept to AUDIT_MAXLEN entries),

    at (epoch ms, Redis time via the entry id)  who  action  campaign  detail

`who` is the API key's name for the HTTP API and the page ("key:NAME"), or "cli:USER"
for the command line.  Read it with `smsdispatch audit [--campaign C]` or
`GET /v1/audit` (admin scope).  Nothing secret goes in: never a key, only its name.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

import redis

from core import keys
from core.replies import text

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

AUDIT_MAXLEN = 100_000  # entries kept (a soft cap: XADD MAXLEN ~)
DETAIL_CHARS = 500
READ_LIMIT = 1000  # most entries one read returns


def cli_user() -> str:
    """Who the command line is, as the audit names it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, no USER
        return "cli:unknown"


def key_name(name: str) -> str:
    """Who an API key (or a page session opened with it) is, as the audit names it."""
    return f"key:{name}"


def record(
    client: redis.Redis, who: str, action: str, campaign: str = "", detail: str = ""
) -> None:
    fields: dict[FieldT, EncodableT] = {
        "who": who,
        "action": action,
        "campaign": campaign,
        "detail": detail[:DETAIL_CHARS],
    }
    client.xadd(keys.AUDIT, fields, maxlen=AUDIT_MAXLEN, approximate=True)


def read(client: redis.Redis, campaign: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """The newest entries first (of `campaign` only, when given), at most `limit`."""
    limit = max(0, min(limit, READ_LIMIT))
    out: list[dict[str, Any]] = []
    last = "+"
    while len(out) < limit:
        page = _page(client, last)
        for entry_id, row in page:
            if campaign and row.get("campaign") != campaign:
                continue
            out.append({"at": int(entry_id.split("-")[0]), **row})
            if len(out) >= limit:
                break
        if len(page) < READ_LIMIT:
            break
        last = "(" + page[-1][0]
    return out


def _page(client: redis.Redis, last: str) -> list[tuple[str, dict[str, str]]]:
    """Up to READ_LIMIT entries before `last`, newest first: (id, fields) as text."""
    return [
        (text(entry_id), {text(k): text(v) for k, v in fields.items()})
        for entry_id, fields in client.xrevrange(keys.AUDIT, max=last, count=READ_LIMIT) or []
        if entry_id is not None and fields is not None  # XREVRANGE answers both
    ]
