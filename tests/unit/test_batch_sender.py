"""BatchSender decisions, table-driven: (gateway answer per destination) -> (states, follow-ups).

Runs on fakeredis (async, with Lua) and dramatiq's StubBroker; the real-Redis,
real-HTTP path is covered by tests/integration.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import orjson
import pytest
from dramatiq.brokers.stub import StubBroker

from config.settings import Settings
from dispatcher import keys
from dispatcher.batch import Batch, Destination
from dispatcher.errors import (
    GatewayAuthError,
    GatewayConnectError,
    GatewayError,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from dispatcher.errors import GatewayTimeout as Timeout
from workers.broker import QUEUES
from workers.providers.ants.codes import classify_status
from workers.providers.ants.sender import Result
from workers.runtime import Context
from workers.sender import BatchSender

ACCEPTED = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
S = {  # 2018 statuses by id
    21: {"groupId": 5, "id": 21, "name": "REJECTED_SYSTEM_ERROR"},
    23: {"groupId": 5, "id": 23, "name": "REJECTED_DUPLICATE_MESSAGE_ID"},
    14: {"groupId": 5, "id": 14, "name": "REJECTED_DESTINATION"},
    12: {"groupId": 5, "id": 12, "name": "REJECTED_NOT_ENOUGH_CREDITS"},
    20: {"groupId": 5, "id": 20, "name": "REJECTED_FLOODING_FILTER"},
    9: {"groupId": 2, "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"},
}
HOUR_MS = 3_600_000


def err(eid: int, name: str, permanent: bool) -> dict[str, Any]:
    """A 2018 `error` object with its own `permanent` flag."""
    return {"groupId": 1, "id": eid, "name": name, "permanent": permanent}


@dataclass
class Case:
    name: str
    answers: dict[int, Any]  # index -> status id or (status id, error); -1 -> request error
    states: dict[int, str]  # destination index -> recorded state
    followup: list[int] = field(default_factory=list)  # indexes resent later
    followup_attempt: int = 2
    attempt: int = 1
    paused: bool = False
    suppressed: list[int] = field(default_factory=list)
    expires_in_ms: int = 48 * HOUR_MS
    dead_reason: str = ""  # what every dead letter's reason starts with
    sends: int = 1  # requests made (in-process quick retries included)
    followup_delay_ms: int | None = None  # the follow-up's delay, when the gateway set it


CASES = [
    Case("all accepted", {}, {0: "accepted", 1: "accepted", 2: "accepted"}),
    Case("partial: only the retryable one is resent", {1: 21},
         {0: "accepted", 1: "retrying", 2: "accepted"}, followup=[1]),
    Case("duplicate messageId counts as accepted", {0: 23, 2: 23},
         {0: "accepted", 1: "accepted", 2: "accepted"}),
    Case("bad number fails and is suppressed", {2: 14},
         {0: "accepted", 1: "accepted", 2: "failed"}, suppressed=[2]),
    Case("out of credit pauses and parks", {1: 12},
         {0: "accepted", 1: "paused", 2: "accepted"}, paused=True),
    Case("flooding filter defers without counting an attempt", {0: 20},
         {0: "deferred", 1: "accepted", 2: "accepted"}, followup=[0], followup_attempt=1),
    Case("timeout: every destination resent with the same ids", {-1: Timeout("t")},
         {0: "retrying", 1: "retrying", 2: "retrying"}, followup=[0, 1, 2]),
    Case("429: deferred, same attempt", {-1: GatewayThrottled("429", retry_after=2.0)},
         {0: "deferred", 1: "deferred", 2: "deferred"}, followup=[0, 1, 2], followup_attempt=1),
    Case("400: permanent for the request", {-1: GatewayRequestError("bad", status=400)},
         {0: "failed", 1: "failed", 2: "failed"}),
    Case("401: pauses the campaign", {-1: GatewayAuthError("no", status=401)},
         {0: "paused", 1: "paused", 2: "paused"}, paused=True),
    Case("retries exhausted go to dead letters", {1: 21},
         {0: "accepted", 1: "dead", 2: "accepted"}, attempt=3,
         dead_reason="gave up after 3 attempts: 21 REJECTED_SYSTEM_ERROR"),
    Case("error permanent:true overrides a retryable status", {1: (21, err(34, "EC_SYSTEM_FAILURE",
         True))}, {0: "accepted", 1: "failed", 2: "accepted"}),
    Case("error permanent:true, unknown subscriber: failed and suppressed",
         {1: (21, err(1, "EC_UNKNOWN_SUBSCRIBER", True))},
         {0: "accepted", 1: "failed", 2: "accepted"}, suppressed=[1]),
    Case("error permanent:false makes an undeliverable status retryable",
         {0: (9, err(27, "EC_ABSENT_SUBSCRIBER", False))},
         {0: "retrying", 1: "accepted", 2: "accepted"}, followup=[0]),
    Case("429 Retry-After beyond validity: dead with the reason",
         {-1: GatewayThrottled("HTTP 429", retry_after=120.0)},
         {0: "dead", 1: "dead", 2: "dead"}, expires_in_ms=60_000,
         dead_reason="validity period ends before the next try: GatewayThrottled"),
    Case("flooding filter's hour beyond validity: dead with the reason", {2: 20},
         {0: "accepted", 1: "accepted", 2: "dead"}, expires_in_ms=HOUR_MS // 2,
         dead_reason="validity period ends before the next try: 20 REJECTED_FLOODING_FILTER"),
    Case("Retry-After of a 429 is the follow-up's delay",
         {-1: GatewayThrottled("HTTP 429", retry_after=7.0)},
         {0: "deferred", 1: "deferred", 2: "deferred"}, followup=[0, 1, 2], followup_attempt=1,
         followup_delay_ms=7000),
    Case("503 with Retry-After: not quick-retried, resent after it",
         {-1: GatewayServerError("HTTP 503", status=503, retry_after=30.0)},
         {0: "retrying", 1: "retrying", 2: "retrying"}, followup=[0, 1, 2],
         followup_delay_ms=30_000),
    Case("500 without Retry-After: quick in-process retries first",
         {-1: GatewayServerError("HTTP 500", status=500)},
         {0: "retrying", 1: "retrying", 2: "retrying"}, followup=[0, 1, 2], sends=3),
    Case("connection refused: quick in-process retries first",
         {-1: GatewayConnectError("refused")},
         {0: "retrying", 1: "retrying", 2: "retrying"}, followup=[0, 1, 2], sends=3),
    Case("unreadable answer: retried later, not quick-retried",
         {-1: GatewayProtocolError("garbage")},
         {0: "retrying", 1: "retrying", 2: "retrying"}, followup=[0, 1, 2], sends=1),
    Case("429 without Retry-After: deferred 1 s",
         {-1: GatewayThrottled("HTTP 429", status=429)},
         {0: "deferred", 1: "deferred", 2: "deferred"}, followup=[0, 1, 2], followup_attempt=1,
         followup_delay_ms=1000),
]  # fmt: skip


def batch(attempt: int = 1, expires_in_ms: int = 172_800_000) -> Batch:
    dests = tuple(Destination(f"c-{i}", f"6681234560{i}") for i in range(3))
    expires = int(time.time() * 1000) + expires_in_ms
    return Batch("c", 0, "c-b0", "Shop", "Hi", dests, expires, attempt=attempt)


def harness(answers: dict[int, Any]) -> tuple[BatchSender, StubBroker, list[Batch], Any]:
    broker = StubBroker()
    for q in QUEUES:
        broker.declare_queue(q)
    client = fakeredis.FakeAsyncRedis()
    settings = Settings(redis_url="redis://x", max_attempts=3)
    ctx = Context(settings, None, client, broker)  # type: ignore[arg-type]
    sent: list[Batch] = []

    async def send(b: Batch) -> list[Result]:
        sent.append(b)
        if -1 in answers:
            raise answers[-1]
        return [_result(b, i, d) for i, d in enumerate(b.destinations)]

    def _result(b: Batch, i: int, d: Destination) -> Result:
        idx = int(d.message_id.rsplit("-", 1)[1])
        answer = answers.get(idx)
        sid, error = answer if isinstance(answer, tuple) else (answer, None)
        status = S[sid] if sid is not None else ACCEPTED
        return Result(d.message_id, d.to, classify_status(status, error), str(status["groupId"]))

    return BatchSender(ctx, send), broker, sent, client


def followup_messages(broker: StubBroker) -> list[dict[str, Any]]:
    out = []
    for q in broker.queues:
        while not broker.queues[q].empty():
            out.append(orjson.loads(broker.queues[q].get_nowait()))
    return out


def followups(broker: StubBroker) -> list[dict[str, Any]]:
    return [m["args"][0] for m in followup_messages(broker)]


async def states(client: Any) -> dict[int, str]:
    return {i: (await client.hget(keys.message(f"c-{i}"), "state")).decode() for i in range(3)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decisions(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.sender.QUICK_WAIT_MAX_S", 0.0)
    sender, broker, sent, client = harness(case.answers)
    started = time.time() * 1000

    async def go() -> None:
        await sender.process(batch(case.attempt, case.expires_in_ms))
        assert await states(client) == case.states
        paused = await client.hget(keys.campaign_meta("c"), "paused")
        assert bool(paused) == case.paused
        if case.paused:
            assert await client.llen(keys.campaign_parked("c")) == 1
        sup = await client.smembers(keys.SUPPRESSED)
        assert sup == {f"6681234560{i}".encode() for i in case.suppressed}
        dead = sorted(i for i, s in case.states.items() if s == "dead")
        assert await client.zcard(keys.DEADLETTERS) == len(dead)
        for i in dead:
            reason = (await client.hget(keys.deadletter(f"c-{i}"), "reason")).decode()
            assert reason.startswith(case.dead_reason), reason

    asyncio.run(go())
    assert len(sent) == case.sends
    messages = followup_messages(broker)
    fu = [m["args"][0] for m in messages]
    resent = sorted(int(d[0].rsplit("-", 1)[1]) for b in fu for d in b["d"])
    assert resent == case.followup
    assert all(b["a"] == case.followup_attempt for b in fu)
    if case.followup_delay_ms is not None:
        for m in messages:
            assert 0 <= m["options"]["eta"] - started - case.followup_delay_ms < 2000


def test_resent_batch_skips_what_was_accepted() -> None:
    sender, _, sent, _client = harness({1: 21})

    async def go() -> None:
        await sender.process(batch())
        await sender.process(batch())  # the same batch redelivered (crash before ack)

    asyncio.run(go())
    assert [len(b.destinations) for b in sent] == [3, 1]
    assert sent[1].destinations[0].message_id == "c-1"


def test_paused_campaign_parks_without_sending() -> None:
    sender, _, sent, client = harness({})

    async def go() -> None:
        await client.hset(keys.campaign_meta("c"), "paused", "12 out of credit")
        await sender.process(batch())
        assert await client.llen(keys.campaign_parked("c")) == 1

    asyncio.run(go())
    assert sent == []


def test_expired_batch_is_dead_lettered_not_sent() -> None:
    sender, _, sent, client = harness({})
    asyncio.run(sender.process(batch(expires_in_ms=-1)))
    assert sent == []
    assert asyncio.run(states(client)) == {0: "dead", 1: "dead", 2: "dead"}


def test_gateway_error_tree_says_what_is_retryable() -> None:
    assert Timeout("x").retryable and GatewayThrottled("x").retryable
    assert not GatewayRequestError("x").retryable and GatewayAuthError("x").fatal
    assert isinstance(Timeout("x"), GatewayError)
