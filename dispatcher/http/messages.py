"""`/v1/messages` (one transactional SMS) and `/v1/otp` (one-time PINs).

`POST /v1/messages` takes an `Idempotency-Key` header.  The key is the caller's
(per API key name): the first request keeps the SHA-256 of its body beside it for
SMS_FINAL_TTL; the same key with the same body answers the same messageId again
(`Idempotent-Replayed: true`) and sends nothing; the same key with another body is
a 409.  The messageId is derived from the key (`dispatcher.api.send_sms`), so a
retry that races the first request still makes one message, sent once.  A request that
is refused (a 400 or 409 about its body) is refused before its key is kept: the same
key with a corrected body is then a first request.

The `campaign` field names a campaign of single messages: the default `api`, or an id of
the caller's own that no import uses (never a CSV or recipients campaign, nor a canceled
one: see `dispatcher.campaign.check_kind`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import redis
from aiohttp import web

from core import ids, keys, replies
from core.errors import InputError
from dispatcher import api, control
from dispatcher.http import auth
from dispatcher.http.state import body, call, client, reply, scoped, settings, text

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255


def routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/messages", send)
    router.add_get("/v1/messages/{message_id}", message)
    router.add_post("/v1/otp", otp_send)
    router.add_post("/v1/otp/{pin_id}/verify", otp_verify)


@scoped("send")
async def send(request: web.Request) -> web.Response:
    data = await body(request)
    to, sms = text(data, "to", required=True, limit=64), text(data, "text", required=True)
    sender, provider = text(data, "sender", limit=64), text(data, "provider", limit=64)
    campaign = text(data, "campaign", limit=64) or api.API_CAMPAIGN
    key, who = _idempotency_key(request), request[auth.CALLER]
    our_key = hashlib.sha256(f"{who.name}\0{key}".encode()).hexdigest()[:40] if key else None
    s = settings(request)
    checked = await call(
        api.check_sms,
        to,
        sms,
        key=our_key,
        sender=sender or None,
        campaign=campaign,
        settings=s,
        provider=provider or None,
    )
    replayed = bool(key) and await call(
        _claim_key, client(request), who.name, key, data, s.final_ttl
    )
    mid = await call(api.send_checked, checked, settings=s)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return reply(
        {"messageId": mid, "campaign": ids.campaign_of(mid), "status": f"/v1/messages/{mid}"},
        202,
        headers,
    )


def _idempotency_key(request: web.Request) -> str:
    """The request's Idempotency-Key ('' when none), checked."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise InputError(
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_CHARS} printable characters",
            field=IDEMPOTENCY_HEADER,
        )
    return key


def _claim_key(r: redis.Redis, caller: str, key: str, data: dict[str, Any], ttl: int) -> bool:
    """Keep the body's hash beside the key (once the request passed its checks); True if
    the same body came before, a 409 if another did."""
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    name = keys.idempotency(caller, hashlib.sha256(key.encode()).hexdigest())
    if r.set(name, digest, nx=True, ex=ttl):
        return False
    if replies.text(r.get(name) or b"") != digest:
        raise web.HTTPConflict(text=f"this {IDEMPOTENCY_HEADER} was used with another body")
    return True


@scoped("read")
async def message(request: web.Request) -> web.Response:
    mid = request.match_info["message_id"]
    if (m := await call(control.message, client(request), mid)) is None:
        raise web.HTTPNotFound(text=f"no message {mid!r} (unknown, or its state expired)")
    return reply(m)


@scoped("send")
async def otp_send(request: web.Request) -> web.Response:
    data = await body(request)
    phone = text(data, "phone", required=True, limit=64)
    application = text(data, "application", limit=128) or None
    pin_id = await call(api.send_otp, phone, application, settings=settings(request))
    return reply({"pinId": pin_id}, 201)


@scoped("send")
async def otp_verify(request: web.Request) -> web.Response:
    data = await body(request)
    pin = text(data, "pin", required=True, limit=32)
    result = await call(
        api.verify_otp, request.match_info["pin_id"], pin, settings=settings(request)
    )
    return reply(
        {
            "verified": result.verified,
            "attemptsRemaining": result.attempts_remaining,
            "pinError": result.pin_error,
        }
    )
