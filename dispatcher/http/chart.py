"""The campaign page's live chart: sent/s and delivered/s over the campaign's life.

The board (dispatcher.http.board) writes a point for every campaign in motion once a
second: the campaign's cumulative `sent` (messages a gateway took: core.outcomes.TAKEN,
status's `sent`) and `delivered` at that second (the API's clock, in whole seconds).
Rates are worked out by the reader from two points, so a missed tick or two API
processes writing the same second change nothing (the same second is written again
with the same counters).

Two sorted sets per campaign, in the campaign's hash slot, scored by epoch second,
members "second:sent:delivered":

    sms:c:{campaign}:chart:1s    a point a second, the last FINE_KEEP_S (an hour)
    sms:c:{campaign}:chart:60s   the last point of each minute, for COARSE_KEEP_S

Both expire with the campaign's final states (SMS_FINAL_TTL) after the last write.

    GET /v1/campaigns/{campaign}/chart[?since=EPOCH_S]   read scope

answers the points after `since` (every point when absent): the minutes before the last
hour, then the seconds of the last hour, oldest first, as [second, sent, delivered];
and, for a campaign that tracks links, `clicks`: its clicks by minute (dispatcher.links,
the last CLICK_MINUTES minutes that had some), as [minute's first second, clicks].
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import redis
from aiohttp import web

from core import keys
from core.errors import InputError
from core.outcomes import TAKEN, State
from dispatcher import control, links
from dispatcher.http.state import call, client, reply, scoped

FINE_S, FINE_KEEP_S = 1, 3600
COARSE_S, COARSE_KEEP_S = 60, 30 * 86400
CLICK_MINUTES = 1440  # minutes with clicks the chart answers, the latest


class Point(NamedTuple):
    campaign: str
    sent: int
    delivered: int


def series(campaign: str, step_s: int) -> str:
    """The key of a campaign's series with points `step_s` apart (its meta's hash tag)."""
    return keys.campaign_chart(campaign, step_s)


def point(campaign: str, counts: dict[str, int]) -> Point:
    """A campaign's chart figures from its counts by state (status()'s `counts`)."""
    sent = sum(n for state, n in counts.items() if state in TAKEN)
    return Point(campaign, sent, counts.get(State.DELIVERED, 0))


def record(client: redis.Redis, second: int, points: Iterable[Point], ttl_s: int) -> None:
    """Write each point at `second` (replacing one written there before), and trim."""
    pipe = client.pipeline(transaction=False)
    minute = second - second % COARSE_S
    for p in points:
        member = f"{second}:{p.sent}:{p.delivered}"
        for key, at, keep in (
            (series(p.campaign, FINE_S), second, FINE_KEEP_S),
            (series(p.campaign, COARSE_S), minute, COARSE_KEEP_S),
        ):
            pipe.zremrangebyscore(key, at, at)
            pipe.zadd(key, {member: at})
            pipe.zremrangebyscore(key, "-inf", f"({second - keep}")
            pipe.expire(key, ttl_s)
    pipe.execute()


def read(client: redis.Redis, campaign: str, since: int = 0) -> list[list[int]]:
    """The points after `since`, oldest first: minutes before the last hour, then seconds."""
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(series(campaign, COARSE_S), f"({since}", "+inf")
    pipe.zrangebyscore(series(campaign, FINE_S), f"({since}", "+inf")
    coarse, fine = (_points(raw) for raw in pipe.execute())
    first_fine = fine[0][0] if fine else None
    if first_fine is not None:
        coarse = [p for p in coarse if p[0] < first_fine - first_fine % COARSE_S]
    return coarse + fine


def _points(raw: list[bytes]) -> list[list[int]]:
    return [[int(n) for n in member.decode().split(":")] for member in raw]


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/campaigns/{campaign}/chart", chart)


@scoped("read")
async def chart(request: web.Request) -> web.Response:
    campaign, store = request.match_info["campaign"], client(request)
    raw = request.query.get("since", "0")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise InputError("'since' is a whole number of seconds since the epoch", field="since")
    await call(control.known, store, campaign)  # 404 when unknown
    points = await call(read, store, campaign, int(raw))
    clicks = (await call(links.minutes, store, campaign))[-CLICK_MINUTES:]
    body: dict[str, Any] = {"campaign": campaign, "now": int(time.time()), "points": points}
    body["clicks"] = [list(point) for point in clicks]
    return reply({**body, "fine_s": FINE_S, "coarse_s": COARSE_S})
