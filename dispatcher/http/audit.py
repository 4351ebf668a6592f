"""`GET /v1/audit`: the audit trail (dispatcher.audit), newest first; admin scope.

?campaign=C   only that campaign's entries       ?limit=N   at most N (1-1000, 100)
"""

from __future__ import annotations

from aiohttp import web

from core.errors import InputError
from dispatcher import audit
from dispatcher.http.state import call, client, reply, scoped

DEFAULT_LIMIT = 100


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/audit", trail)


@scoped("admin")
async def trail(request: web.Request) -> web.Response:
    campaign = request.query.get("campaign", "")
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= audit.READ_LIMIT:
        raise InputError(f"limit must be 1 to {audit.READ_LIMIT}", field="limit")
    if len(campaign) > 64:
        raise InputError("campaign is at most 64 characters", field="campaign")
    entries = await call(audit.read, client(request), campaign, int(raw))
    return reply({"entries": entries})
