"""`/v1/deadletters`: messages whose retries or validity ran out (dispatcher.control).

    GET  /v1/deadletters[?campaign=C]   read    the letters, oldest first (at most LIST_MAX)
    POST /v1/deadletters/replay         admin   send them again: a JSON body
                                                {"campaign": C} replays that campaign's,
                                                {"messageId": M} one letter, none: all

A replay keeps the messageIds, with fresh attempts and validity, and is audited under
the key's name (`deadletters replay`).
"""

from __future__ import annotations

from aiohttp import web

from dispatcher import api, control
from dispatcher.http.state import body, call, client, reply, scoped, settings, text, who

LIST_MAX = 1000


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/deadletters", listing)
    router.add_post("/v1/deadletters/replay", replay)


@scoped("read")
async def listing(request: web.Request) -> web.Response:
    campaign = request.query.get("campaign", "")[:64] or None
    rows = await call(control.deadletters, client(request), campaign, LIST_MAX)
    return reply({"deadletters": rows})


@scoped("admin")
async def replay(request: web.Request) -> web.Response:
    data = await body(request) if request.can_read_body else {}
    campaign = text(data, "campaign", limit=64)
    message_id = text(data, "messageId", limit=200)
    store, s, caller = client(request), settings(request), who(request)
    enqueue = api.enqueuer(s)
    n = await call(
        control.replay,
        store,
        enqueue,
        campaign or None,
        s.validity_minutes,
        s.stream_policy,
        caller,
        message_id,
    )
    return reply({"replayed": n})
