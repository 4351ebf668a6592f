"""`/v1/optouts`: the opt-out list (core.optout) for the operations page; admin scope.

    GET  /v1/optouts?q=DIGITS     entries whose number holds those digits (a whole number
                                  is normalised first, as the import does), at most LIST_MAX
    POST /v1/optouts              {"numbers": [...], "reason": "...", "days": 0}: add them
                                  (`manual`; days > 0 makes them expire)
    POST /v1/optouts/remove       {"numbers": [...]}: take them off

Numbers are normalised with SMS_REGION, so `0812345678` and `66812345678` are one entry;
a bad one is a 400 naming it.  Adding and removing are audited under the key's name, as
`smsdispatch optout` records them under the user's.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import redis
from aiohttp import web

from core import keys, optout
from core.errors import InputError
from dispatcher import audit
from dispatcher.http.state import body, call, client, reply, scoped, settings, text, who
from dispatcher.numbers import normalise

LIST_MAX = 200
MAX_NUMBERS = 1000  # one request; more: `smsdispatch optout import`
MAX_DAYS = 36_500


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/optouts", search)
    router.add_post("/v1/optouts", add)
    router.add_post("/v1/optouts/remove", remove)


def find(store: redis.Redis, query: str, region: str) -> list[dict[str, Any]]:
    """Live entries whose number holds the digits of `query` (any entry when empty)."""
    digits = "".join(ch for ch in query if ch.isdigit())
    try:
        wanted = [normalise(query, region)] if digits else []
    except InputError:
        wanted = []
    pattern = f"*{digits}*" if digits else "*"
    scanned = islice(store.hscan_iter(keys.OPTOUT, match=pattern, count=1000), LIST_MAX)
    wanted += [number.decode() for number, _ in scanned]
    live = {e.number: e.as_dict() for e in optout.check(store, wanted) if e is not None}
    return sorted(live.values(), key=lambda e: e["number"])


def _numbers(data: dict[str, Any], region: str) -> list[str]:
    raw = data.get("numbers")
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise InputError("'numbers' must be a non-empty list of strings", field="numbers")
    if len(raw) > MAX_NUMBERS:
        raise InputError(f"at most {MAX_NUMBERS} numbers at once", field="numbers")
    out = []
    for n in raw:
        try:
            out.append(normalise(n[:64], region))
        except InputError as exc:
            raise InputError(f"{n[:64]!r}: {exc.reason}", field="numbers") from None
    return out


@scoped("admin")
async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")[:64]
    rows = await call(find, client(request), query, settings(request).region)
    return reply({"optouts": rows})


@scoped("admin")
async def add(request: web.Request) -> web.Response:
    data = await body(request)
    numbers = _numbers(data, settings(request).region)
    reason = text(data, "reason", limit=optout.REASON_MAX) or "added on the operations page"
    days = data.get("days", 0)
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= MAX_DAYS:
        raise InputError(f"'days' must be a number from 0 to {MAX_DAYS}", field="days")
    entries = optout.entries_for(numbers, optout.MANUAL, reason, days=days)
    store = client(request)
    n = await call(optout.add, store, entries)
    detail = f"{n} ({reason}): {' '.join(numbers)}"
    await call(audit.record, store, who(request), "optout add", "", detail)
    return reply({"added": n, "numbers": numbers})


@scoped("admin")
async def remove(request: web.Request) -> web.Response:
    numbers = _numbers(await body(request), settings(request).region)
    store = client(request)
    n = await call(optout.remove, store, numbers)
    await call(audit.record, store, who(request), "optout remove", "", f"{n}: {' '.join(numbers)}")
    return reply({"removed": n, "numbers": numbers})
