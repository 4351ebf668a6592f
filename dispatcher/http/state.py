"""What every handler of the API shares: the app's settings and Redis, scopes, JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import redis
from aiohttp import web

from config.settings import Settings
from core.errors import InputError
from dispatcher import audit
from dispatcher.http import auth

SETTINGS = web.AppKey("settings", Settings)
CLIENT = web.AppKey("redis", redis.Redis)
JSON = "application/json"
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def scoped(scope: str) -> Callable[[Handler], Handler]:
    """Mark a handler as needing an API key of at least `scope` (see dispatcher.http.auth)."""

    def mark(handler: Handler) -> Handler:
        handler.scope = scope  # type: ignore[attr-defined]  # read by app._auth (getattr)
        return handler

    return mark


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run synchronous producer code (Redis, dispatcher.api) on a thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type=JSON, headers=headers)


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or an InputError saying what is wrong with it."""
    if request.content_type != JSON:
        raise InputError(f"send JSON (Content-Type: {JSON})", field="Content-Type")
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object", field="body")
    return data


def text(data: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 10_000) -> str:
    """A string member of a JSON body ('' when absent and not required)."""
    value = data.get(name)
    if value is None:
        if required:
            raise InputError(f"{name!r} is required", field=name)
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name!r} must be a string", field=name)
    if required and not value.strip():
        raise InputError(f"{name!r} must not be empty", field=name)
    if len(value) > limit:
        raise InputError(f"{name!r} is longer than {limit} characters", field=name)
    return value


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def client(request: web.Request) -> redis.Redis:
    return request.app[CLIENT]


def who(request: web.Request) -> str:
    """The caller as the audit trail names it (the API key's name; a page session speaks
    for the key that opened it)."""
    caller = request.get(auth.CALLER)
    return audit.key_name(caller.name) if caller is not None else "key:?"
