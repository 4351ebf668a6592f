"""API keys: `smsdispatch apikey create NAME --scope send|read|admin`.

A key is shown once, when it is made; Redis keeps only its SHA-256 (`sms:apikeys`,
hash -> {name, scope, created}), so a copy of Redis gives no key away.  Requests send
`Authorization: Bearer KEY`; the operations page logs in with an admin key, which opens
a server-side session (dispatcher.http.sessions): its cookie never holds the key.

Scopes are nested: `read` sees campaigns and messages, `send` also starts campaigns,
sends messages and OTPs, `admin` also pauses, resumes and cancels, and opens the
operations page.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from aiohttp import web

from core import keys
from core.errors import InputError
from dispatcher import audit

SCOPES = ("read", "send", "admin")
KEY_PREFIX = "sk_"  # recognisable in a leaked log or a secret scanner
KEY_BYTES = 32


@dataclass(frozen=True)
class Caller:
    name: str
    scope: str

    def may(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


CALLER = web.RequestKey("caller", Caller)  # where the API keeps who is asking


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(client: redis.Redis, name: str, scope: str, who: str = "") -> str:
    """A new key for `name` with `scope`; returns it (the only time it is seen).  `who`:
    for the audit trail (default: the command line's user)."""
    if scope not in SCOPES:
        raise InputError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    if not name or len(name) > 64 or not name.isprintable():
        raise InputError("name must be 1-64 printable characters", field="name")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    entry = {"name": name, "scope": scope, "created": int(time.time())}
    client.hset(keys.API_KEYS, digest(key), orjson.dumps(entry))
    audit.record(client, who or audit.cli_user(), "apikey create", detail=f"{name} ({scope})")
    return key


def caller(entry: bytes | str | None) -> Caller | None:
    if entry is None:
        return None
    data = orjson.loads(entry)
    return Caller(data["name"], data["scope"])


def list_keys(client: redis.Redis) -> list[dict[str, Any]]:
    """Names, scopes and creation times (never the keys: they are not kept)."""
    rows = [orjson.loads(v) for v in client.hvals(keys.API_KEYS)]
    return sorted(rows, key=lambda r: (r["name"], r["created"]))


def revoke(client: redis.Redis, name: str, who: str = "") -> int:
    """Delete every key named `name` (their page sessions end with them); returns how many."""
    gone = [h for h, v in client.hgetall(keys.API_KEYS).items() if orjson.loads(v)["name"] == name]
    n = client.hdel(keys.API_KEYS, *gone) if gone else 0
    audit.record(client, who or audit.cli_user(), "apikey revoke", detail=f"{name}: {n} key(s)")
    return n
