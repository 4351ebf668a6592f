"""`/v1/keys`: API keys (dispatcher.http.auth) for the operations page; admin scope.

    GET    /v1/keys          names, scopes and creation times (never a key: none is kept)
    POST   /v1/keys          {"name": N, "scope": "read"|"send"|"admin"}: a new key,
                             answered once (201); Redis keeps only its SHA-256
    DELETE /v1/keys/{name}   revoke every key of that name (their page sessions end too)

Creating and revoking are audited under the caller's key name.
"""

from __future__ import annotations

from aiohttp import web

from dispatcher.http import auth
from dispatcher.http.state import body, call, client, reply, scoped, text, who


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/keys", listing)
    router.add_post("/v1/keys", create)
    router.add_delete("/v1/keys/{name}", revoke)


@scoped("admin")
async def listing(request: web.Request) -> web.Response:
    return reply({"keys": await call(auth.list_keys, client(request))})


@scoped("admin")
async def create(request: web.Request) -> web.Response:
    data = await body(request)
    name = text(data, "name", required=True, limit=64)
    scope = text(data, "scope", required=True, limit=16)
    key = await call(auth.create, client(request), name, scope, who(request))
    return reply({"name": name, "scope": scope, "key": key}, 201)


@scoped("admin")
async def revoke(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    revoked = await call(auth.revoke, client(request), name, who(request))
    return reply({"name": name, "revoked": revoked})
