"""Operating a campaign: status, pause, resume, cancel, dead letters (list and replay).

A campaign's `state` (in `status`) is one of STATES:

    importing   rows are still being read            scheduled   waits for its --send-at
    sending     batches on the queue or in hand      paused      an operator or an account error
    canceled    an operator ended it (final)         done        every message left our hands
    open        a channel (`kind` messages or otp: `api`, `otp`) that takes messages as they
                come; it is never done, and cannot be paused or canceled

`done` includes messages held `unknown` (the gateway may have them; dispatcher.unknowns):
nothing more happens to them until a report comes or an operator resends or drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import redis

from core import clock, ids, keys, ledger, lua, pause, replies, schedule
from core.batch import Batch
from core.errors import CampaignCanceled, CampaignConflict, CampaignNotFound
from core.options import SendOptions
from core.outcomes import NONFINAL_TTL, SENT, TAKEN, UNSENT, State, StreamPolicy, Waiting, stream_of
from core.window import Window
from dispatcher import audit, links
from dispatcher.campaign import IMPORTED_KIND, KIND, kind_of
from dispatcher.otp import OTP_CAMPAIGN
from providers import registry

Enqueue = Callable[[dict[str, Any]], None]
DEFAULT_POLICY = StreamPolicy()
TOP_ERRORS = 10
META_INTS = (
    "rows",
    "valid",
    "invalid",
    "duplicates",
    "opted_out",
    "batches",
    "messages",
    "created",
    "imported",
    "resent",
    "send_at",
    "canceled",
)
STATES = ("importing", "scheduled", "sending", "paused", "canceled", "done", "open")
NEXT = ":next"  # a waiting reason's field of its earliest retry time (record.lua)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def known(client: redis.Redis, campaign: str) -> None:
    """CampaignNotFound unless the campaign was ever imported."""
    if not client.sismember(keys.CAMPAIGNS, campaign):
        raise CampaignNotFound(f"no campaign {campaign!r}")


def status(client: redis.Redis, campaign: str) -> dict[str, Any]:
    """Counts by state and the campaign's facts, from two hashes (fast at any size)."""
    pipe = client.pipeline(transaction=False)
    pipe.sismember(keys.CAMPAIGNS, campaign)
    pipe.hgetall(keys.campaign_meta(campaign))
    pipe.hgetall(keys.campaign_counts(campaign))
    pipe.llen(keys.campaign_parked(campaign))
    pipe.hgetall(keys.campaign_errors(campaign))
    pipe.hgetall(keys.campaign_providers(campaign))
    pipe.hgetall(keys.campaign_waiting(campaign))
    exists, meta_raw, counts_raw, parked, errors_raw, providers, waiting = pipe.execute()
    if not exists:
        raise CampaignNotFound(f"no campaign {campaign!r}")
    meta = {_text(k): _text(v) for k, v in meta_raw.items()}
    counts = {_text(k): int(v) for k, v in counts_raw.items() if int(v)}
    summary = _summary(campaign, meta, counts, parked)
    summary["awaiting_report"] = sum(counts.get(s, 0) for s in (State.ACCEPTED, State.PENDING))
    summary["unknown"] = counts.get(State.UNKNOWN, 0)  # held: an operator decides
    summary["top_errors"] = top_errors(errors_raw)
    summary["accepted_by_provider"] = {_text(k): int(v) for k, v in sorted(providers.items())}
    summary["scheduled_batches"], summary["next_due"] = schedule.scheduled(client, campaign)
    summary["window"] = meta.get("window", "")
    summary["options"] = str(SendOptions.from_stored(meta.get("options")))  # in words
    summary["state"] = _state(summary)
    summary["sending"] = summary["state"] == "sending"
    summary["waiting"] = _waiting(summary, waiting, counts)
    summary["clicks"] = links.summary(client, meta.get(links.TAG_FIELD, ""), summary["sent"])
    return summary


def _state(st: dict[str, Any]) -> str:
    if st.get("canceled"):
        return "canceled"
    if st["paused"]:
        return "paused"
    if st["kind"] != IMPORTED_KIND:
        return "open"
    if not st["imported_complete"]:
        return "importing"
    if st["in_flight"] == 0:
        return "done"
    if st["send_at"] > clock.now_ms() and st["done_sending"] == 0:
        return "scheduled"
    return "sending"


def _waiting(st: dict[str, Any], raw: dict[bytes, bytes], counts: dict[str, int]) -> dict:
    """Why its messages wait: deferred and retrying ones by reason code (core.outcomes.Waiting)
    with their counts; `window` also says when it opens, `scheduled` when the campaign starts,
    `paused` why and by whom."""
    now, found, nexts = clock.now_ms(), {}, {}
    for k, v in raw.items():
        field, n = _text(k), int(v)
        if field.endswith(NEXT):
            nexts[field.removesuffix(NEXT)] = n
        elif n > 0:
            found[field] = n
    out: dict[str, Any] = dict(sorted(found.items()))
    if window := out.pop(Waiting.WINDOW, 0):
        start = Window.parse(st["window"]).start.strftime("%H:%M") if st["window"] else ""
        at = nexts.get(Waiting.WINDOW, 0)
        opens = f"{start} local time" if start else ""
        out[Waiting.WINDOW] = {
            "count": window,
            "opens_at": opens,
            "next_opening": at if at > now else 0,
        }
    if st["send_at"] > now and st["scheduled_batches"]:
        out["scheduled"] = {"batches": st["scheduled_batches"], "at": st["send_at"]}
    if st["paused"] or counts.get(State.PAUSED, 0) > 0:
        reason = st["paused"]
        count = max(0, counts.get(State.PAUSED, 0))
        out["paused"] = {"count": count, "reason": reason, "by": paused_by(reason)}
    return out


def paused_by(reason: str) -> str:
    """Who paused it, when an operator did (the reason names them: `pause_campaign`)."""
    head = f"{pause.OPERATOR_PAUSE} ("
    return reason[len(head) : -1] if reason.startswith(head) and reason.endswith(")") else ""


MESSAGE_FIELDS = ("state", "to", "campaign", "status", "error", "attempt", "provider", "ts")


def message(client: redis.Redis, message_id: str) -> dict[str, str] | None:
    """One message's latest state (GET /v1/messages/{id}, api.message_status): messageId and
    MESSAGE_FIELDS (ts: epoch ms); None when unknown or its state expired.  An id of no
    campaign's form is an OTP pinId."""
    campaign = ids.campaign_of(message_id)
    m = ledger.read(client, message_id)
    if m is None and campaign == message_id:
        campaign = OTP_CAMPAIGN
        m = ledger.read(client, message_id, campaign)
    if m is None:
        return None
    fields = {k: m.get(k, "") for k in MESSAGE_FIELDS}
    return {"messageId": message_id, **fields, "campaign": campaign}


def campaigns(client: redis.Redis) -> list[str]:
    return sorted(_text(c) for c in client.smembers(keys.CAMPAIGNS))


LISTED = ("campaign", "kind", "state", "messages", "progress", "created")  # `campaigns`


def listed(st: dict[str, Any]) -> dict[str, Any]:
    """A campaign's line in a list (`smsdispatch campaigns`), from its status."""
    return {k: st[k] for k in LISTED}


def _channel(client: redis.Redis, campaign: str, doing: str) -> None:
    """CampaignConflict for a channel of single messages or OTPs (`api`, `otp`): pausing one
    would hold every send while its API still answers 202."""
    kind = kind_of(campaign, _text(client.hget(keys.campaign_meta(campaign), KIND) or b""))
    if kind != IMPORTED_KIND:
        raise CampaignConflict(
            f"{campaign!r} is a channel (kind {kind}), not a campaign: it cannot be {doing} "
            "(its messages go one by one as they are sent; refuse them at their source)"
        )


def pause_campaign(client: redis.Redis, campaign: str, who: str = "") -> bool:
    """Stop sending it on every worker (each checks before every request); True if it was
    not paused.  The batches in hand are parked, not sent.  `who`: for the audit trail and
    the pause's reason (default: the command line's user).  A channel is refused."""
    known(client, campaign)
    if pause.canceled(client, campaign):
        raise CampaignCanceled(f"campaign {campaign!r} was canceled")
    _channel(client, campaign, "paused")
    who = who or audit.cli_user()
    changed = pause.pause(client, campaign, f"{pause.OPERATOR_PAUSE} ({who})")
    audit.record(client, who, "pause", campaign, f"changed={changed}")
    return changed


def cancel(
    client: redis.Redis, enqueue: Enqueue, campaign: str, policy: StreamPolicy, who: str = ""
) -> int:
    """End every unsent message `canceled`; returns how many ended now (the rest end when a
    worker meets them, within one request's time)."""
    known(client, campaign)
    _channel(client, campaign, "canceled")
    ended = pause.cancel(client, enqueue, campaign, policy)
    audit.record(client, who or audit.cli_user(), "cancel", campaign, f"canceled_now={ended}")
    return ended


def top_errors(raw: dict[bytes, bytes], n: int = TOP_ERRORS) -> list[dict[str, Any]]:
    """The most frequent failures (core.outcomes.FAILURES) that carry a code: status, error
    id, its name in a provider's tables when one knows it, count."""
    coded = ((int(v), _text(k)) for k, v in raw.items() if int(v) > 0 and _text(k) != ":")
    rows = sorted(coded, reverse=True)[:n]
    out = []
    for count, field in rows:
        status, _, error = field.rpartition(":")
        out.append(
            {"status": status, "error": error, "error_name": _error_name(error), "count": count}
        )
    return out


def _error_name(code: str) -> str:
    if not code:
        return ""
    return next((name for p in registry.names() if (name := registry.get(p).error_name(code))), "")


def _summary(campaign: str, meta: dict[str, str], counts: dict[str, int], parked: int) -> dict:
    facts: dict[str, Any] = {k: int(meta.get(k) or 0) for k in META_INTS}
    messages = facts.get("messages", 0)
    done = sum(n for s, n in counts.items() if s in SENT)
    return {
        "campaign": campaign,
        "kind": kind_of(campaign, meta.get(KIND, "")),
        **facts,
        "counts": dict(sorted(counts.items())),
        "done_sending": done,
        "in_flight": max(0, messages - done),
        "sent": sum(counts.get(s, 0) for s in TAKEN),
        "ended_unsent": sum(counts.get(s, 0) for s in UNSENT),
        "progress": round(min(done, messages) / messages, 4) if messages > 0 else 0.0,
        "paused": meta.get("paused", ""),
        "parked_batches": parked,
        "imported_complete": "imported" in meta,
    }


def resume(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    batch_size: int = 0,
    who: str = "",
    policy: StreamPolicy = DEFAULT_POLICY,
) -> int:
    """Clear the pause and put every parked batch back on the queue; returns how many
    (`policy`: where the resumed messages' events go)."""
    known(client, campaign)
    moved = pause.resume(client, enqueue, campaign, batch_size, policy)
    audit.record(client, who or audit.cli_user(), "resume", campaign, f"batches={moved}")
    return moved


def resume_if_paused(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str,
    batch_size: int = 0,
    who: str = "",
    policy: StreamPolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """`resume`, when there is something to resume: {changed, resumed_batches, message}
    (a campaign neither paused nor holding parked batches is left alone: "nothing to
    resume: campaign is done")."""
    st = status(client, campaign)
    if not st["paused"] and not st["parked_batches"]:
        message = f"nothing to resume: campaign is {st['state']}"
        return {"changed": False, "resumed_batches": 0, "message": message}
    moved = resume(client, enqueue, campaign, batch_size, who, policy)
    message = f"resumed {campaign}: {moved} parked batches back on the queue"
    return {"changed": True, "resumed_batches": moved, "message": message}


def deadletters(client: redis.Redis, campaign: str | None = None, limit: int = 1000) -> list[dict]:
    """Dead messages, oldest first: messageId, campaign, to, reason, when."""
    out = []
    for mid, score in replies.scored(client.zrange(keys.DEADLETTERS, 0, -1, withscores=True)):
        entry = client.hgetall(keys.deadletter(mid))
        if not entry:  # expired with its TTL: the index entry goes too
            client.zrem(keys.DEADLETTERS, mid)
            continue
        batch = orjson.loads(entry.get(b"batch", b"{}") or b"{}")
        owner = _text(entry.get(b"campaign", b"")) or batch.get("c", "")
        if campaign and owner != campaign:
            continue
        to = batch["d"][0][1] if batch.get("d") else ""
        out.append(
            {
                "messageId": mid,
                "campaign": owner,
                "to": to,
                "reason": _text(entry.get(b"reason", b"")),
                "at": int(score),
            }
        )
        if len(out) >= limit:
            break
    return out


REPLAY_REASON = "replayed from dead letters"


def replay(
    client: redis.Redis,
    enqueue: Enqueue,
    campaign: str | None,
    validity_min: int,
    policy: StreamPolicy = DEFAULT_POLICY,
    who: str = "",
    message_id: str = "",
) -> int:
    """Send dead messages again (same messageIds, fresh attempts and validity): the
    campaign's (every one when None), or the one letter `message_id` names.

    A message whose outcome was unknown when it died still carries its send claim, so
    its replay asks the gateway first and never sends it twice (workers.claims).  A letter
    whose message's state expired (SMS_FINAL_TTL; letters live longer) is replayed too,
    its state recreated queued; one whose message moved on (a late report) is dropped."""
    if message_id:
        mids = [message_id]
    else:
        mids = [dead["messageId"] for dead in deadletters(client, campaign, limit=10**9)]
    replayed = sum(_replay_one(client, enqueue, mid, validity_min, policy) for mid in mids)
    detail = f"replayed={replayed}" + (f" of={message_id}" if message_id else "")
    audit.record(client, who or audit.cli_user(), "deadletters replay", campaign or "", detail)
    return replayed


def _replay_one(
    client: redis.Redis, enqueue: Enqueue, mid: str, validity_min: int, policy: StreamPolicy
) -> int:
    """One letter: 1 when it was enqueued again, 0 when there is none or its message moved
    on (the letter goes either way)."""
    raw = client.hget(keys.deadletter(mid), "batch")
    if raw is None:
        return 0
    batch = Batch.from_dict(orjson.loads(raw))
    expires = clock.now_ms() + validity_min * 60_000
    to = batch.destinations[0].to if batch.destinations else ""
    replayed = 0
    if requeue(client, batch.campaign, mid, State.DEAD, REPLAY_REASON, policy, to):
        enqueue(batch.only(list(batch.destinations), attempt=1, expires_at=expires).to_dict())
        replayed = 1
    client.delete(keys.deadletter(mid))
    client.zrem(keys.DEADLETTERS, mid)
    return replayed


def requeue(
    client: redis.Redis,
    campaign: str,
    message_id: str,
    leaving: State,
    reason: str,
    policy: StreamPolicy,
    to: str = "",
) -> bool:
    """Move a message back to queued from `leaving` (dead or unknown), atomically; True
    when the caller must enqueue it, False if it is past that (requeue.lua, whose one
    wrapper this is).  `to`: a state that is gone counts as `leaving` (a dead letter that
    outlived its message's state), recreated queued with this number."""
    p = ledger.place(message_id, campaign)
    args = [message_id, campaign, p.field, NONFINAL_TTL, leaving.value, reason, to]
    keys_ = [
        p.key,
        keys.campaign_counts(campaign),
        keys.campaign_errors(campaign),
        stream_of(campaign, policy),
    ]
    return bool(lua.script(client, "requeue", "dispatcher")(keys=keys_, args=args))
