"""Operations-page logins: opaque server-side sessions, never the key in a cookie.

`POST /ops/login` with an admin key opens a session: a random id (the cookie, HttpOnly,
SameSite=Strict, `Secure` when the page is served over https or SMS_PUBLIC_URL is
https) whose SHA-256 names a Redis key holding the SHA-256 of the API key that opened
it, expiring after SESSION_TTL_S.  Each request looks the key up again, so revoking
the key (`smsdispatch apikey revoke`) ends its sessions at once; logout deletes the
session.  A copy of Redis gives away neither the cookies nor the keys.
"""

from __future__ import annotations

import hashlib
import secrets

import redis

from core import keys, replies
from dispatcher.http import auth

SESSION_TTL_S = 12 * 3600
SESSION_BYTES = 32


def _name(session_id: str) -> str:
    return keys.session(hashlib.sha256(session_id.encode()).hexdigest())


def open_session(client: redis.Redis, key_digest: str, ttl_s: int = SESSION_TTL_S) -> str:
    """A new session for the key whose digest is `key_digest`; returns its id (the cookie)."""
    session_id = secrets.token_urlsafe(SESSION_BYTES)
    client.set(_name(session_id), key_digest, ex=ttl_s)
    return session_id


def caller(client: redis.Redis, session_id: str) -> auth.Caller | None:
    """Who a session speaks for: its key's caller while both live, else None."""
    if not session_id or len(session_id) > 2 * SESSION_BYTES:
        return None
    digest = client.get(_name(session_id))
    if digest is None:
        return None
    return auth.caller(client.hget(keys.API_KEYS, replies.text(digest)))


def close(client: redis.Redis, session_id: str) -> None:
    if session_id:
        client.delete(_name(session_id))
