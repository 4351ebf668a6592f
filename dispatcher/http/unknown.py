"""`/v1/campaigns/{campaign}/unknown`: messages held `unknown` (dispatcher.unknowns).

    GET  .../unknown          read    the held messages, oldest first
    POST .../unknown/resend   admin   send them again (a JSON body {"messageIds": [...]}
                                      picks some; no body: all of them)
    POST .../unknown/drop     admin   end them canceled, not sent again

The decision goes into the outcome stream with the key's name.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import InputError
from dispatcher import api, unknowns
from dispatcher.http.state import body, call, client, reply, scoped, settings, who

MAX_IDS = 10_000  # messageIds one request may name
MAX_ID_CHARS = 200  # core.ids.MAX_MESSAGE_ID


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/campaigns/{campaign}/unknown", listing)
    router.add_post("/v1/campaigns/{campaign}/unknown/resend", resend)
    router.add_post("/v1/campaigns/{campaign}/unknown/drop", drop)


async def _ids(request: web.Request) -> list[str] | None:
    """The messageIds a body names, or None (no body: every unknown message)."""
    if not request.can_read_body or not await request.read():
        return None
    data = await body(request)
    ids: Any = data.get("messageIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError("'messageIds' must be a list of strings", field="messageIds")
    if len(ids) > MAX_IDS:
        raise InputError(f"'messageIds' may name at most {MAX_IDS}", field="messageIds")
    if any(not 0 < len(i) <= MAX_ID_CHARS for i in ids):
        raise InputError(f"a messageId has 1 to {MAX_ID_CHARS} characters", field="messageIds")
    return ids


@scoped("read")
async def listing(request: web.Request) -> web.Response:
    campaign = request.match_info["campaign"]
    rows = await call(unknowns.listing, client(request), campaign)
    return reply({"campaign": campaign, "unknown": rows})


@scoped("admin")
async def resend(request: web.Request) -> web.Response:
    campaign, r, s = request.match_info["campaign"], client(request), settings(request)
    ids = await _ids(request)
    enqueue, caller = api.enqueuer(s), who(request)
    n = await call(
        unknowns.resend, r, enqueue, campaign, ids, s.validity_minutes, s.stream_policy, caller
    )
    return reply({"campaign": campaign, "resent": n})


@scoped("admin")
async def drop(request: web.Request) -> web.Response:
    campaign, r, s = request.match_info["campaign"], client(request), settings(request)
    ids = await _ids(request)
    n = await call(unknowns.drop, r, campaign, ids, s.stream_policy, who(request))
    return reply({"campaign": campaign, "dropped": n})
