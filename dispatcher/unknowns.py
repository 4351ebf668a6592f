"""Messages held `unknown` (core.unknown): list them, resend them, or drop them.

The worker holds a message `unknown` when a gateway may have taken it and cannot say it
has not (SmsManager).  Nothing sends it again by itself: an operator decides, knowing
that a resend may reach the phone twice and a drop may leave it without the text.

* `listing`: the campaign's unknown messages, oldest first (an entry whose message a
  delivery report has since resolved is stale, and is dropped from the hash here);
* `resend`: back to queued (requeue.lua, only from `unknown`), then enqueued with a fresh
  validity, same messageId; the entry goes after the enqueue, so a resend that stops
  half-way is finished by running it again;
* `drop`: ends it `canceled` (our own conclusion, rank 4: a delivery report that comes
  later still says what became of it).

Each decision is an event in the outcome stream whose reason names who took it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis

from core import clock, keys, ledger
from core.batch import Batch
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import audit
from dispatcher.control import known, requeue

Enqueue = Callable[[dict[str, Any]], None]
DROP_REASON = "outcome unknown; dropped by {who}: not sent again"
RESEND_REASON = "outcome unknown; resent by {who}"
SCAN_COUNT = 1000


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _entries(client: redis.Redis, campaign: str) -> dict[str, dict[str, Any]]:
    key = keys.campaign_unknown(campaign)
    return {_text(mid): orjson.loads(raw) for mid, raw in client.hscan_iter(key, count=SCAN_COUNT)}


def _held(client: redis.Redis, campaign: str, mids: Iterable[str]) -> set[str]:
    """Which of these messages are `unknown` now; the others' entries are stale."""
    mids = list(mids)
    states = ledger.states(client, mids, campaign)
    return {m for m, state in zip(mids, states, strict=True) if state == State.UNKNOWN}


def listing(client: redis.Redis, campaign: str) -> list[dict[str, Any]]:
    """The campaign's unknown messages, oldest first: messageId, to, reason, at."""
    known(client, campaign)
    entries = _entries(client, campaign)
    held = _held(client, campaign, entries)
    stale = [m for m in entries if m not in held]
    if stale:
        client.hdel(keys.campaign_unknown(campaign), *stale)
    rows = [
        {"messageId": m, "to": e["batch"]["d"][0][1], "reason": e["reason"], "at": e["at"]}
        for m, e in entries.items()
        if m in held
    ]
    return sorted(rows, key=lambda row: (row["at"], row["messageId"]))


def _chosen(client: redis.Redis, campaign: str, message_ids: list[str] | None) -> dict[str, Any]:
    """The entries to act on: these ids (every one, when None) that are unknown now."""
    known(client, campaign)
    entries = _entries(client, campaign)
    if message_ids is not None:
        entries = {m: e for m, e in entries.items() if m in set(message_ids)}
    return entries


def resend(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    message_ids: list[str] | None,
    validity_min: int,
    policy: StreamPolicy,
    who: str,
) -> int:
    """Send these unknown messages again (all of the campaign's when `message_ids` is None);
    returns how many were enqueued."""
    sent = 0
    why = RESEND_REASON.format(who=who)
    for mid, entry in _chosen(client, campaign, message_ids).items():
        if requeue(client, campaign, mid, State.UNKNOWN, why, policy):
            batch = Batch.from_dict(entry["batch"])
            expires = clock.now_ms() + validity_min * 60_000
            enqueue(batch.only(list(batch.destinations), attempt=1, expires_at=expires).to_dict())
            sent += 1
        client.hdel(keys.campaign_unknown(campaign), mid)
    audit.record(client, who, "unknown resend", campaign, _detail(message_ids, sent))
    return sent


def drop(
    client: redis.Redis,
    campaign: str,
    message_ids: list[str] | None,
    policy: StreamPolicy,
    who: str,
) -> int:
    """End these unknown messages `canceled` (all of the campaign's when None); returns how
    many ended now."""
    chosen = _chosen(client, campaign, message_ids)
    why = DROP_REASON.format(who=who)
    events = [
        Event(mid, campaign, State.CANCELED, reason=why, inferred=True, only_from="unknown")
        for mid in chosen
    ]
    ended = record(client, events, policy)
    if chosen:
        client.hdel(keys.campaign_unknown(campaign), *chosen)
    audit.record(client, who, "unknown drop", campaign, _detail(message_ids, ended))
    return ended


def _detail(message_ids: list[str] | None, done: int) -> str:
    named = "all" if message_ids is None else ",".join(message_ids)
    return f"done={done} of={named}"
