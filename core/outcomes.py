"""Message states and the outcome stream.

Every state change of every message is one entry in the `sms:outcomes` stream
(see README "Outcome stream"), written together with the message's latest state
(its field in the campaign's ledger, core.ledger) and its campaign's counters by
`record.lua`, atomically for each message, in calls of at most `CHUNK` events of one
campaign.  Writes are idempotent: a state is applied only when it moves the message
forward (rank), so redelivered batches and duplicate reports change nothing.

Why a batch's events may be split across calls (a call of 1,000 held Redis ~20 ms, and
every transactional message's round trips queued behind it): all that must be atomic
is one event, its state, stream entry, counters and the end of its send claim.  A call
is a sum of such events (its counters are their changes added up) and the calls run
one after another in the events' order, so the end state is the same.  A run that dies
or fails between calls has recorded its first chunks whole and the rest not at all: the
rest keep their send claims, and the batch, not acked, comes back to meet them as a
claimed destination with an unknown outcome, asked about at the gateway before any
resend, as when the run dies before a single call; the recorded ones are already sent
(rank), so the claim stage drops them.  Nothing goes twice, nothing is lost.  A body
of delivery reports that fails between calls is not answered 2xx, so the gateway sends
it again, and what was recorded of it changes nothing the second time.

Ranks:

    0 queued
    1 deferred, retrying, paused       (moves among themselves: each is a new decision)
    2 accepted, unknown                (the gateway took it; may have: held, never resent
                                        by itself, until a report, an operator or a lookup)
    3 pending                          (an intermediate delivery report)
    4 dead, and the sweep's expired    (our own inference: the gateway may still report)
    5 every other final state          (the gateway's word, or never sent at all)

So a real delivery report (5) still wins over our inferred `dead` or `expired`
(4), and nothing moves a message out of a rank-5 state.  An event can also
release the worker's send claim on the message (`release`, see `workers.claims`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from core import keys, ledger, lua

NONFINAL_TTL = 30 * 86400  # a message never left without a final state (see sweep)


class State(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"  # held back by a limit; a retry time is set
    RETRYING = "retrying"  # transient failure; a retry is scheduled
    PAUSED = "paused"  # the campaign is paused; the message is parked
    ACCEPTED = "accepted"  # the gateway took it (ACCEPTED or PENDING)
    PENDING = "pending"  # an intermediate delivery report
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"  # rejected by the operator in a delivery report
    FAILED = "failed"  # permanent error at send time
    DEAD = "dead"  # retries or validity ran out: in the dead-letter set
    SUPPRESSED = "suppressed"  # the number is on the suppression list
    CANCELED = "canceled"  # an operator dropped it before it was sent (or an unknown one)
    # the gateway may have taken it and cannot be asked (its lookup proves no absence):
    # held, never resent by itself; a report resolves it, an operator resends or drops it
    UNKNOWN = "unknown"


INFERRED_RANK = 4  # a final state we inferred: a gateway report may still replace it
FINAL_RANK = 5
RANK: dict[State, int] = {
    State.QUEUED: 0,
    State.DEFERRED: 1,
    State.RETRYING: 1,
    State.PAUSED: 1,
    State.ACCEPTED: 2,
    State.UNKNOWN: 2,
    State.PENDING: 3,
    State.DEAD: INFERRED_RANK,
}
FINAL = frozenset(s for s in State if RANK.get(s, FINAL_RANK) >= INFERRED_RANK)
# out of our hands: the gateway has it (or may have it: unknown), or it ended
SENT = frozenset({State.ACCEPTED, State.PENDING, State.UNKNOWN}) | FINAL
# the gateway took it: accepted and every later gateway state (status `sent`; record.lua
# counts a message for its provider when it first reaches one of these)
TAKEN = frozenset(
    {
        State.ACCEPTED,
        State.PENDING,
        State.DELIVERED,
        State.UNDELIVERABLE,
        State.EXPIRED,
        State.REJECTED,
    }
)
# ended without being sent (status `ended_unsent`)
UNSENT = frozenset({State.CANCELED, State.SUPPRESSED, State.FAILED, State.DEAD})
# failures: counted by "{status}:{error}" in the campaign's error counters (status's top
# errors); an expiry, a cancel or an opt-out is not an error
FAILURES = frozenset({State.UNDELIVERABLE, State.REJECTED, State.FAILED, State.DEAD})


class Waiting(StrEnum):
    """Why a message waits (deferred or retrying): the one table of reason codes.  record.lua
    counts the messages waiting now by code (`keys.campaign_waiting`, status `waiting`)."""

    RATE_LIMIT = "rate_limit"  # our throughput limit (SMS_RATE, SMS_SENDER_RATE)
    ANTI_FLOODING = "anti_flooding"  # per-number anti-flooding (SMS_FLOOD_*)
    GATEWAY_THROTTLED = "gateway_throttled"  # the gateway said slow down (429, its codes)
    WINDOW = "window"  # outside its delivery window (--window): waits for it to open
    RESUMED = "resumed"  # back on the queue after a resume, not met by a worker yet
    RETRY = "retry"  # a transient failure (5xx, timeouts, refusals): retried with backoff
    OUTCOME_UNKNOWN = "outcome_unknown"  # the gateway may have it: asked before any resend
    REROUTED = "rerouted"  # goes back through the routes (asked about elsewhere)
    WORKER_STOPPING = "worker_stopping"  # its worker was stopping: taken up by another
    REDIS_SLOW = "redis_slow"  # Redis answered claims too slowly to send safely


def rank(state: State, inferred: bool = False) -> int:
    """The rank of a state; `inferred` marks a final state we concluded ourselves."""
    if inferred and state in FINAL:
        return INFERRED_RANK
    return RANK.get(state, FINAL_RANK)


@dataclass(frozen=True, slots=True)
class Event:
    """One state change of one message, as written to the outcome stream."""

    message_id: str
    campaign: str
    state: State
    bulk_id: str = ""
    to: str = ""
    attempt: int = 0
    group: str = ""
    status_id: str = ""
    status_name: str = ""
    error_id: str = ""
    permanent: str = ""
    reason: str = ""
    retry_at: int = 0  # epoch ms
    expires_at: int = 0  # epoch ms: end of the validity period (accepted; indexes for the sweep)
    inferred: bool = False  # a final state of our own conclusion (the sweep's expired)
    release: str = ""  # the send claim (run token) this event ends, if any
    provider: str = ""  # the gateway the run sent (or meant to send) it through
    # applied only when the message is in this state now, whatever the ranks (an
    # operator's decision about an `unknown` one): "" for the rank rule
    only_from: str = ""
    waiting: str = ""  # a Waiting code: why a deferred or retrying message waits

    @property
    def rank(self) -> int:
        return rank(self.state, self.inferred)


@dataclass(frozen=True)
class StreamPolicy:
    maxlen: int = 1_000_000
    final_ttl: int = 7 * 86400
    outbox: bool = False  # events go to each campaign's outbox, relayed (core.outbox)


class _Call:
    """One record.lua call: a campaign's keys, then its buckets' (declared, by index)."""

    def __init__(self, campaign: str, policy: StreamPolicy) -> None:
        self.campaign = campaign
        self.policy = policy
        self.declared = lua.Declared(
            stream_of(campaign, policy),
            keys.campaign_counts(campaign),
            keys.campaign_open(campaign),
            keys.campaign_errors(campaign),
            keys.campaign_providers(campaign),
            keys.campaign_waiting(campaign),
        )
        self.items: list[tuple[Any, ...]] = []

    def add(self, ev: Event) -> None:
        p = ledger.place(ev.message_id, self.campaign)
        r, at = ev.rank, self.declared.at
        self.items.append(
            (
                ev.state.value,
                r,
                int(r >= INFERRED_RANK),
                ev.message_id,
                at(p.key),
                p.field,
                at(p.claim_key),
                ev.bulk_id,
                ev.to,
                ev.attempt,
                ev.group,
                ev.status_id,
                ev.status_name,
                ev.error_id,
                ev.permanent,
                ev.reason,
                ev.retry_at,
                ev.expires_at,
                ev.release,
                ev.provider,
                ev.only_from,
                ev.waiting,
            )
        )

    def args(self) -> list[Any]:
        p = self.policy
        maxlen = 0 if p.outbox else p.maxlen  # an outbox is emptied by the relay, not trimmed
        args = [maxlen, p.final_ttl, NONFINAL_TTL, self.campaign, orjson.dumps(self.items)]
        return [*args, STATE_SETS]


# record.lua's copy of TAKEN and FAILURES (one definition, sent with every call)
STATE_SETS = orjson.dumps({"taken": sorted(TAKEN), "failures": sorted(FAILURES)})


def stream_of(campaign: str, policy: StreamPolicy) -> str:
    """Where a campaign's events are added: the outcome stream, or its outbox."""
    return keys.outbox(campaign) if policy.outbox else keys.OUTCOMES


# events per record.lua call: ~2 ms of Redis each, so no call keeps other clients waiting
# long (the module docstring says why splitting a batch is safe)
CHUNK = 100


def _calls(events: Sequence[Event], policy: StreamPolicy) -> Iterator[_Call]:
    """The calls for `events`: one campaign each (in its order), CHUNK items at most."""
    by_campaign: dict[str, list[Event]] = {}
    for ev in events:
        by_campaign.setdefault(ev.campaign, []).append(ev)
    for campaign, evs in by_campaign.items():
        for i in range(0, len(evs), CHUNK):
            call = _Call(campaign, policy)
            for ev in evs[i : i + CHUNK]:
                call.add(ev)
            yield call


def record(client: Any, events: Sequence[Event], policy: StreamPolicy) -> int:
    """Apply events with a sync redis client; returns how many changed something."""
    script = lua.script(client, "record")
    calls = _calls(events, policy)
    return sum(int(script(keys=c.declared.keys, args=c.args())) for c in calls)


async def arecord(client: Any, events: Sequence[Event], policy: StreamPolicy) -> int:
    """Apply events with an asyncio redis client; returns how many changed something."""
    script, applied = lua.script(client, "record"), 0
    for c in _calls(events, policy):
        applied += int(await script(keys=c.declared.keys, args=c.args()))
    return applied
