"""`GET /v1/campaigns/{campaign}/details` (read scope): what a campaign was started with,
for the operations page beside its status: text, sender, region, send-at, window, kind
(campaign, messages or otp), and when it was created, imported and when its messages'
validity ends (epoch seconds; ms for `send_at` and `expires_at`, as the campaign's meta
keeps them)."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp import web

from core import keys, replies
from dispatcher import control
from dispatcher.campaign import KIND, kind_of
from dispatcher.http.state import call, client, reply, scoped

TEXTS = ("text", "sender", "region", "window", KIND)
NUMBERS = ("created", "imported", "send_at", "expires_at")


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/campaigns/{campaign}/details", details)


def read(store: redis.Redis, campaign: str) -> dict[str, Any]:
    control.known(store, campaign)
    raw = store.hmget(keys.campaign_meta(campaign), *TEXTS, *NUMBERS)
    values = [replies.text(v) if v is not None else None for v in raw]
    out: dict[str, Any] = {"campaign": campaign}
    out.update((name, value or "") for name, value in zip(TEXTS, values, strict=False))
    out[KIND] = kind_of(campaign, out[KIND])
    numbers = values[len(TEXTS) :]
    out.update((name, int(v) if v else 0) for name, v in zip(NUMBERS, numbers, strict=True))
    return out


@scoped("read")
async def details(request: web.Request) -> web.Response:
    return reply(await call(read, client(request), request.match_info["campaign"]))
