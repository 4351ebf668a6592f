"""`/v1/deadletters`: messages whose retries or validity ran out (dispatcher.control).

    GET  /v1/deadletters[?campaign=C]   read    the letters, oldest first (at most LIST_MAX)
    POST /v1/deadletters/replay         admin   send them again: a JSON body
                                                {"campaign": C} replays that campaign's,
                                                {"messageId": M} one letter, none: all

A replay keeps the messageIds, with fresh attempts and validity, and is audited under
the key's name (`deadletters replay`).
"""

from __future__ import annotations

import orjson
import redis
from aiohttp import web

from core import clock, keys
from core.batch import Batch
from core.outcomes import State, StreamPolicy
from dispatcher import api, audit, control
from dispatcher.http.state import body, call, client, reply, scoped, settings, text, who

LIST_MAX = 1000
REPLAY_REASON = "replayed from dead letters"


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
    if message_id:
        n = await call(
            replay_one, store, enqueue, message_id, s.validity_minutes, s.stream_policy, caller
        )
    else:
        n = await call(
            control.replay,
            store,
            enqueue,
            campaign or None,
            s.validity_minutes,
            s.stream_policy,
            caller,
        )
    return reply({"replayed": n})


def replay_one(
    store: redis.Redis,
    enqueue: control.Enqueue,
    message_id: str,
    validity_min: int,
    policy: StreamPolicy,
    caller: str,
) -> int:
    """One letter of control.replay: 1 when it was enqueued again, 0 when there is no such
    letter or its message moved on (the letter goes either way)."""
    raw = store.hget(keys.deadletter(message_id), "batch")
    if raw is None:
        return 0
    batch = Batch.from_dict(orjson.loads(raw))
    to = batch.destinations[0].to if batch.destinations else ""
    replayed = 0
    if control.requeue(store, batch.campaign, message_id, State.DEAD, REPLAY_REASON, policy, to):
        expires = clock.now_ms() + validity_min * 60_000
        only = batch.only(list(batch.destinations), attempt=1, expires_at=expires)
        enqueue(only.to_dict())
        replayed = 1
    store.delete(keys.deadletter(message_id))
    store.zrem(keys.DEADLETTERS, message_id)
    detail = f"{message_id}: replayed={replayed}"
    audit.record(store, caller, "deadletters replay", batch.campaign, detail)
    return replayed
