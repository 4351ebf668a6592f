"""BatchSender decisions, table-driven: (gateway answer per destination) -> (states, follow-ups).

Runs on fakeredis (async, with Lua) and dramatiq's StubBroker; the real-Redis,
real-HTTP path is covered by tests/integration.  Later cases follow a batch over
two runs: what a run leaves behind (claims, follow-ups) and what the next one does.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import orjson
import pytest
from dramatiq.brokers.stub import StubBroker

from config.settings import Settings
from core import keys, ledger
from core.batch import BINARY_KEY, Batch, Destination
from core.binary import Binary
from core.errors import (
    GatewayAuthError,
    GatewayConnectError,
    GatewayError,
    GatewayMisconfigured,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from core.errors import GatewayTimeout as Timeout
from core.limits import AsyncLimiter
from core.queues import QUEUES
from providers import registry
from providers.ants import PROFILE as ANTS
from providers.ants.codes import classify_status
from providers.base import Action, Result, Verdict
from workers.claims import settle_ms
from workers.gate import Gate
from workers.runtime import Context
from workers.send.gating import BINARY_UNSUPPORTED
from workers.sender import UNKNOWN_MARGIN_MS, BatchSender, grouped_delay

ACCEPTED = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
S = {  # 2018 statuses by id
    21: {"groupId": 5, "id": 21, "name": "REJECTED_SYSTEM_ERROR"},
    23: {"groupId": 5, "id": 23, "name": "REJECTED_DUPLICATE_MESSAGE_ID"},
    14: {"groupId": 5, "id": 14, "name": "REJECTED_DESTINATION"},
    12: {"groupId": 5, "id": 12, "name": "REJECTED_NOT_ENOUGH_CREDITS"},
    19: {"groupId": 5, "id": 19, "name": "REJECTED_ROUTE_NOT_AVAILABLE"},
    20: {"groupId": 5, "id": 20, "name": "REJECTED_FLOODING_FILTER"},
    9: {"groupId": 2, "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"},
}
HOUR_MS = 3_600_000
UNKNOWN_DELAY = grouped_delay(settle_ms(Settings().http_timeout) + UNKNOWN_MARGIN_MS)


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
    claimed: int = 0  # destinations whose send claim stays (outcome unknown)


CASES = [
    Case("all accepted", {}, {0: "accepted", 1: "accepted", 2: "accepted"}),
    Case(
        "partial: only the retryable one is resent",
        {1: 21},
        {0: "accepted", 1: "retrying", 2: "accepted"},
        followup=[1],
    ),
    Case(
        "duplicate messageId counts as accepted",
        {0: 23, 2: 23},
        {0: "accepted", 1: "accepted", 2: "accepted"},
    ),
    Case(
        "bad number fails and is suppressed",
        {2: 14},
        {0: "accepted", 1: "accepted", 2: "failed"},
        suppressed=[2],
    ),
    Case(
        "out of credit pauses and parks",
        {1: 12},
        {0: "accepted", 1: "paused", 2: "accepted"},
        paused=True,
    ),
    Case(
        "flooding filter defers without counting an attempt",
        {0: 20},
        {0: "deferred", 1: "accepted", 2: "accepted"},
        followup=[0],
        followup_attempt=1,
    ),
    Case(
        "timeout: outcome unknown, nothing resent before the gateway is asked",
        {-1: Timeout("t")},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        followup_attempt=1,
        followup_delay_ms=UNKNOWN_DELAY,
        claimed=3,
    ),
    Case(
        "502 from a proxy: outcome unknown, not quick-retried",
        {-1: GatewayServerError("HTTP 502", status=502)},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        followup_attempt=1,
        claimed=3,
    ),
    Case(
        "429: deferred, same attempt",
        {-1: GatewayThrottled("429", retry_after=2.0)},
        {0: "deferred", 1: "deferred", 2: "deferred"},
        followup=[0, 1, 2],
        followup_attempt=1,
    ),
    Case(
        "400 naming no destination: pauses, burns nothing",
        {-1: GatewayMisconfigured("HTTP 400: [messages[0].from : too long]", status=400)},
        {0: "paused", 1: "paused", 2: "paused"},
        paused=True,
    ),
    Case(
        "400 naming one destination: it fails, the others go at once",
        {-2: GatewayRequestError("HTTP 400", status=400, message_ids=("c-1",))},
        {0: "accepted", 1: "failed", 2: "accepted"},
        sends=2,
    ),
    Case(
        "404 (a wrong URL): pauses, burns nothing",
        {-1: GatewayMisconfigured("HTTP 404: No such resource", status=404)},
        {0: "paused", 1: "paused", 2: "paused"},
        paused=True,
    ),
    Case(
        "401: pauses the campaign",
        {-1: GatewayAuthError("no", status=401)},
        {0: "paused", 1: "paused", 2: "paused"},
        paused=True,
    ),
    Case(
        "no route to one destination: only it fails",
        {1: 19},
        {0: "accepted", 1: "failed", 2: "accepted"},
    ),
    Case(
        "no route for any destination: the account's, pauses",
        {0: 19, 1: 19, 2: 19},
        {0: "paused", 1: "paused", 2: "paused"},
        paused=True,
    ),
    Case(
        "missing from a 200 answer: outcome unknown",
        {1: "missing"},
        {0: "accepted", 1: "retrying", 2: "accepted"},
        followup=[1],
        followup_attempt=1,
        claimed=1,
    ),
    Case(
        "retries exhausted go to dead letters",
        {1: 21},
        {0: "accepted", 1: "dead", 2: "accepted"},
        attempt=3,
        dead_reason="gave up after 3 attempts: 21 REJECTED_SYSTEM_ERROR",
    ),
    Case(
        "error permanent:true overrides a retryable status",
        {1: (21, err(34, "EC_SYSTEM_FAILURE", True))},
        {0: "accepted", 1: "failed", 2: "accepted"},
    ),
    Case(
        "error permanent:true, unknown subscriber: failed and suppressed",
        {1: (21, err(1, "EC_UNKNOWN_SUBSCRIBER", True))},
        {0: "accepted", 1: "failed", 2: "accepted"},
        suppressed=[1],
    ),
    Case(
        "error permanent:false makes an undeliverable status retryable",
        {0: (9, err(27, "EC_ABSENT_SUBSCRIBER", False))},
        {0: "retrying", 1: "accepted", 2: "accepted"},
        followup=[0],
    ),
    Case(
        "429 Retry-After beyond validity: dead with the reason",
        {-1: GatewayThrottled("HTTP 429", retry_after=120.0)},
        {0: "dead", 1: "dead", 2: "dead"},
        expires_in_ms=60_000,
        dead_reason="validity period ends before the next try: GatewayThrottled",
    ),
    Case(
        "flooding filter's hour beyond validity: dead with the reason",
        {2: 20},
        {0: "accepted", 1: "accepted", 2: "dead"},
        expires_in_ms=HOUR_MS // 2,
        dead_reason="validity period ends before the next try: 20 REJECTED_FLOODING_FILTER",
    ),
    Case(
        "Retry-After of a 429 is the follow-up's delay",
        {-1: GatewayThrottled("HTTP 429", retry_after=7.0)},
        {0: "deferred", 1: "deferred", 2: "deferred"},
        followup=[0, 1, 2],
        followup_attempt=1,
        followup_delay_ms=7000,
    ),
    Case(
        "503 with Retry-After: not quick-retried, resent after it",
        {-1: GatewayServerError("HTTP 503", status=503, retry_after=30.0)},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        followup_delay_ms=30_000,
    ),
    Case(
        "500 without Retry-After: quick in-process retries first",
        {-1: GatewayServerError("HTTP 500", status=500)},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        sends=3,
    ),
    Case(
        "connection refused: quick in-process retries first",
        {-1: GatewayConnectError("refused")},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        sends=3,
    ),
    Case(
        "unreadable answer: outcome unknown, not quick-retried",
        {-1: GatewayProtocolError("garbage")},
        {0: "retrying", 1: "retrying", 2: "retrying"},
        followup=[0, 1, 2],
        followup_attempt=1,
        sends=1,
        claimed=3,
    ),
    Case(
        "an infinite Retry-After waits a day, no overflow",
        {-1: GatewayThrottled("HTTP 429", retry_after=float("inf"))},
        {0: "deferred", 1: "deferred", 2: "deferred"},
        followup=[0, 1, 2],
        followup_attempt=1,
        followup_delay_ms=86_400_000,
    ),
    Case(
        "429 without Retry-After: deferred 1 s",
        {-1: GatewayThrottled("HTTP 429", status=429)},
        {0: "deferred", 1: "deferred", 2: "deferred"},
        followup=[0, 1, 2],
        followup_attempt=1,
        followup_delay_ms=1000,
    ),
]


def batch(attempt: int = 1, expires_in_ms: int = 172_800_000) -> Batch:
    dests = tuple(Destination(f"c-{i}", f"6681234560{i}") for i in range(3))
    expires = int(time.time() * 1000) + expires_in_ms
    return Batch("c", 0, "c-b0", "Shop", "Hi", dests, expires, attempt=attempt)


class FakeGateway:
    """A provider: `answers` by destination index (-1: the whole request raises; -2: the
    first request raises, later ones answer); `taken`: messageIds its logs have."""

    def __init__(self, answers: dict[int, Any], taken: set[str] | None = None) -> None:
        self.answers, self.taken = answers, taken or set()
        self.sent: list[Batch] = []
        self.asked: list[str] = []

    async def send(self, b: Batch) -> list[Result]:
        self.sent.append(b)
        if -1 in self.answers or (-2 in self.answers and len(self.sent) == 1):
            raise self.answers.get(-1) or self.answers[-2]
        self.taken |= {d.message_id for d in b.destinations}
        return [r for d in b.destinations if (r := self._result(d)) is not None]

    def provider_ids(self, b: Batch) -> dict[str, str]:
        return {}

    async def lookup(self, b: Batch) -> dict[str, Result]:
        self.asked += [d.message_id for d in b.destinations]
        done = Verdict(Action.ALREADY_DONE, "26", "PENDING_ACCEPTED", "the gateway's logs have it")
        return {
            d.message_id: Result(d.message_id, d.to, done, "1")
            for d in b.destinations
            if d.message_id in self.taken
        }

    def _result(self, d: Destination) -> Result | None:
        answer = self.answers.get(int(d.message_id.rsplit("-", 1)[1]))
        if answer == "missing":
            return None
        sid, error = answer if isinstance(answer, tuple) else (answer, None)
        status = S[sid] if sid is not None else ACCEPTED
        return Result(d.message_id, d.to, classify_status(status, error), str(status["groupId"]))


def harness(
    answers: dict[int, Any], client: Any = None, **settings: Any
) -> tuple[BatchSender, StubBroker, list[Batch], Any]:
    broker = StubBroker()
    for q in QUEUES:
        broker.declare_queue(q)
    client = client or fakeredis.FakeAsyncRedis()
    s = Settings(redis_url="redis://x", **{"max_attempts": 3, **settings})
    ctx = Context(s, None, client, broker)  # type: ignore[arg-type]
    gateway = FakeGateway(answers)
    return BatchSender(ctx, gateway, name=s.provider), broker, gateway.sent, client


def followup_messages(broker: StubBroker) -> list[dict[str, Any]]:
    out = []
    for q in broker.queues:
        while not broker.queues[q].empty():
            out.append(orjson.loads(broker.queues[q].get_nowait()))
    return out


def followups(broker: StubBroker) -> list[dict[str, Any]]:
    return [m["args"][0] for m in followup_messages(broker)]


async def scheduled(client: Any, campaign: str = "c") -> list[dict[str, Any]]:
    """Follow-ups waiting in Redis (core.schedule: long waits), as queue messages: the
    batch in args, its due time as eta."""
    raw = await client.zrange(keys.campaign_scheduled(campaign), 0, -1, withscores=True)
    return [{"args": [orjson.loads(b)], "options": {"eta": int(due)}} for b, due in raw]


async def states(client: Any) -> dict[int, str]:
    return {i: (await ledger.aread(client, f"c-{i}"))["state"] for i in range(3)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decisions(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.send.requesting.QUICK_WAIT_MAX_S", 0.0)
    sender, broker, sent, client = harness(case.answers)
    started = time.time() * 1000

    async def go() -> None:
        await sender.process(batch(case.attempt, case.expires_in_ms))
        assert await states(client) == case.states
        paused = await client.hget(keys.campaign_meta("c"), "paused")
        assert bool(paused) == case.paused
        if case.paused:
            assert await client.llen(keys.campaign_parked("c")) == 1
        sup = await client.hkeys(keys.OPTOUT)
        assert set(sup) == {f"6681234560{i}".encode() for i in case.suppressed}
        dead = sorted(i for i, s in case.states.items() if s == "dead")
        assert await client.zcard(keys.DEADLETTERS) == len(dead)
        for i in dead:
            reason = (await client.hget(keys.deadletter(f"c-{i}"), "reason")).decode()
            assert reason.startswith(case.dead_reason), reason
        claims = await _claims(client)
        assert sum(c is not None for c in claims) == case.claimed

    asyncio.run(go())
    assert len(sent) == case.sends
    messages = followup_messages(broker) + asyncio.run(scheduled(client))
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


# ---------------------------------------------------------------- claims over several runs


async def claim_as_another_run(
    client: Any, age_ms: int, ids: range = range(3), stage: str = ""
) -> None:
    """What a run that died mid-request leaves: its claims, stamped `age_ms` ago (`stage`:
    ":c" before its request started, ":s" as it left, "" a claim that does not say)."""
    for i in ids:
        stamp = int(time.time() * 1000) - age_ms
        p = ledger.place(f"c-{i}")
        await client.hset(p.claim_key, p.field, f"dead-run:{stamp}{stage}")


def test_a_claim_another_run_may_still_use_is_left_alone() -> None:
    sender, broker, sent, client = harness({})

    async def go() -> None:
        await claim_as_another_run(client, age_ms=1_000)
        await sender.process(batch())

    asyncio.run(go())
    assert sent == [] and sender.provider.asked == []  # type: ignore[attr-defined]
    assert asyncio.run(states(client)) == {0: "deferred", 1: "deferred", 2: "deferred"}
    [follow] = followup_messages(broker)
    settle = settle_ms(Settings().http_timeout)
    assert settle - 1_000 <= follow["options"]["eta"] - time.time() * 1000 <= settle + 3_000


@pytest.mark.parametrize("taken", [set(), {"c-0", "c-2"}, {"c-0", "c-1", "c-2"}])
def test_a_settled_claim_is_asked_about_then_only_the_rest_is_sent(taken: set[str]) -> None:
    sender, _, sent, client = harness({})
    sender.provider.taken = set(taken)  # type: ignore[attr-defined]

    async def go() -> None:
        await claim_as_another_run(client, age_ms=settle_ms(Settings().http_timeout) + 1)
        await sender.process(batch())

    asyncio.run(go())
    assert sorted(sender.provider.asked) == ["c-0", "c-1", "c-2"]  # type: ignore[attr-defined]
    resent = sorted(d.message_id for b in sent for d in b.destinations)
    assert resent == sorted({"c-0", "c-1", "c-2"} - taken)
    assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}
    claims = asyncio.run(_claims(client))
    assert claims == [None, None, None]


async def _claims(client: Any) -> list[Any]:
    places = [ledger.place(f"c-{i}") for i in range(3)]
    return [await client.hget(p.claim_key, p.field) for p in places]


def test_timeout_then_next_run_asks_and_sends_nothing_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request timed out after the gateway took it; the follow-up finds it there."""
    monkeypatch.setattr("workers.claims.SETTLE_MARGIN_MS", 0)
    first, broker, _, client = harness({-2: Timeout("no answer")}, http_timeout=0.01)

    async def go() -> None:
        await first.process(batch())
        first.provider.taken |= {"c-0", "c-1", "c-2"}  # type: ignore[attr-defined]  # it had them
        await asyncio.sleep(0.05)  # the claims settle
        [follow] = followups(broker)
        second, _, _, _ = harness({}, client=client, http_timeout=0.01)
        second.provider = first.provider
        await second.process(Batch.from_dict(follow))

    asyncio.run(go())
    gateway = first.provider
    assert len(gateway.sent) == 1 and sorted(gateway.asked) == ["c-0", "c-1", "c-2"]  # type: ignore[attr-defined]
    assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}


def test_two_copies_of_a_batch_at_once_send_each_message_once() -> None:
    """A double import, a double resume or a redelivery while the first run still sends."""
    client = fakeredis.FakeAsyncRedis()
    a, _, _, _ = harness({}, client=client)
    b, _, _, _ = harness({}, client=client)
    gateway = a.provider
    b.provider = gateway
    original = gateway.send

    async def slow_send(batch_: Batch) -> list[Result]:
        await asyncio.sleep(0.05)
        return await original(batch_)

    gateway.send = slow_send  # type: ignore[method-assign]

    async def go() -> None:
        await asyncio.gather(a.process(batch()), b.process(batch()))

    asyncio.run(go())
    sends = [d.message_id for s in gateway.sent for d in s.destinations]  # type: ignore[attr-defined]
    assert sorted(sends) == ["c-0", "c-1", "c-2"]
    assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}


def test_a_batch_parked_just_as_the_campaign_resumed_goes_on() -> None:
    """The run read "paused" before a resume finished: it must not park behind it."""
    sender, broker, sent, client = harness({})
    real_hget = client.hget

    async def paused_then_resumed(key: str, field: str) -> Any:
        value = await real_hget(key, field)
        if field == "paused":
            await client.hdel(keys.campaign_meta("c"), "paused")  # the resume, meanwhile
        return value

    async def go() -> None:
        await client.hset(keys.campaign_meta("c"), "paused", "12 out of credit")
        client.hget = paused_then_resumed
        await sender.process(batch())
        client.hget = real_hget

    asyncio.run(go())
    assert sent == []
    assert asyncio.run(client.llen(keys.campaign_parked("c"))) == 0
    assert [len(b["d"]) for b in followups(broker)] == [3]
    assert asyncio.run(states(client)) == {0: "deferred", 1: "deferred", 2: "deferred"}


def test_deferred_destinations_share_follow_ups() -> None:
    """Waits that differ by milliseconds travel together, not one message each."""
    assert grouped_delay(1_234) == 1_300 and grouped_delay(1_201) == 1_300
    assert grouped_delay(12_345) == 13_000 and grouped_delay(61_000) == 70_000
    assert grouped_delay(3_600_001) == 3_660_000
    assert len({grouped_delay(2_001 + i * 7) for i in range(140)}) == 1


def test_the_dead_letter_index_is_trimmed_with_its_entries() -> None:
    """Index entries older than the dead letters' TTL go when a new one is added, and an
    entry whose hash expired goes when the list is read."""
    from dispatcher import control
    from workers.sender import DEADLETTER_TTL

    server = fakeredis.FakeServer()
    sender, _, _, _client = harness({}, client=fakeredis.FakeAsyncRedis(server=server))
    sync = fakeredis.FakeRedis(server=server)
    old = int(time.time() * 1000) - DEADLETTER_TTL * 1000 - 1
    sync.zadd(keys.DEADLETTERS, {"ancient-1": old, "gone-1": int(time.time() * 1000)})
    asyncio.run(sender.process(batch(expires_in_ms=-1)))  # three new dead letters
    assert sorted(sync.zrange(keys.DEADLETTERS, 0, -1)) == [b"c-0", b"c-1", b"c-2", b"gone-1"]
    rows = control.deadletters(sync)  # "gone-1" has no hash any more
    assert sorted(r["messageId"] for r in rows) == ["c-0", "c-1", "c-2"]
    assert all(r["campaign"] == "c" for r in rows)
    assert sync.zscore(keys.DEADLETTERS, "gone-1") is None


def test_an_unexpected_error_is_retried_then_dead_lettered_with_us(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Never dramatiq's own dead-letter queue: the batch's messages end dead, so its
    campaign finishes, and `smsdispatch deadletters` can replay them."""
    sender, broker, _, client = harness({})

    async def bug(b: Batch) -> list[Result]:
        raise KeyError("a field no code foresaw")

    sender.provider.send = bug  # type: ignore[method-assign]
    current = batch()
    for run in range(1, 9):
        try:
            asyncio.run(sender.process(current))
        except KeyError as exc:
            asyncio.run(sender.failed_run(current, exc))
        if run < 8:
            [again] = followups(broker)
            current = Batch.from_dict(again)
            assert current.meta["failed_runs"] == run
    assert followups(broker) == []
    assert asyncio.run(states(client)) == {0: "dead", 1: "dead", 2: "dead"}
    reason = asyncio.run(client.hget(keys.deadletter("c-0"), "reason")).decode()
    assert reason.startswith("gave up after 8 failed runs: unexpected error: KeyError")


def test_a_gateways_own_ids_are_kept_before_the_request_and_events_name_the_provider() -> None:
    sender, _, _, client = harness({})
    sender.name = "smsc"
    kept: list[bytes | None] = []
    real_send = sender.provider.send

    async def send_after_check(b: Batch) -> list[Result]:
        kept.append(await client.get(keys.provider_id("smsc", "x:66812345601")))
        return await real_send(b)

    sender.provider.provider_ids = lambda b: {d.message_id: f"x:{d.to}" for d in b.destinations}  # type: ignore[method-assign]
    sender.provider.send = send_after_check  # type: ignore[method-assign]
    asyncio.run(sender.process(batch()))
    assert kept == [b"c-1"]  # already there when the request left: a report cannot beat it
    providers = [f[b"provider"] for _, f in asyncio.run(client.xrange(keys.OUTCOMES))]
    assert providers == [b"smsc"] * 3


def settled_claims(client: Any, via: str, n: int = 3) -> Any:
    """Claims of a dead run, old enough to have settled, saying where they went."""

    async def put() -> None:
        stamp = int(time.time() * 1000) - settle_ms(Settings().http_timeout) - 1
        for i in range(n):
            p = ledger.place(f"c-{i}")
            await client.hset(p.claim_key, p.field, f"dead:{stamp}|{via}")

    return put()


def test_an_unknown_outcome_at_another_provider_is_settled_there() -> None:
    """Claimed for smsc, now routed to ants: it goes to smsc to be asked first."""
    sender, broker, sent, client = harness({})
    b = batch()

    async def go() -> None:
        await settled_claims(client, f"smsc|{b.expires_at}|c-b0")
        await sender.process(b)

    asyncio.run(go())
    assert sent == [] and sender.provider.asked == []  # type: ignore[attr-defined]
    [follow] = followups(broker)
    assert follow["m"] == {"ask": "smsc"} and follow["p"] == "" and len(follow["d"]) == 3


def test_when_the_gateway_cannot_be_asked_it_is_asked_again_later() -> None:
    """Failover must not send an unknown outcome elsewhere while its gateway cannot be
    asked: the follow-up goes to ask it again, never through the next provider."""
    sender, broker, sent, client = harness({})
    b = batch()

    async def unreachable(b: Batch) -> dict[str, Result]:
        raise GatewayServerError("503 on the logs", status=503)

    sender.provider.lookup = unreachable  # type: ignore[method-assign]

    async def go() -> None:
        await settled_claims(client, f"ants|{b.expires_at}|c-b0")
        await sender.process(b)

    asyncio.run(go())
    assert sent == []
    [follow] = followups(broker)
    assert follow["m"] == {"ask": "ants"} and len(follow["d"]) == 3


def test_the_gateway_is_asked_about_the_request_the_claim_went_out_with() -> None:
    """A replay (new validity end) or a resend (new bulkId) carries other request ids than
    the request that may have reached the gateway: the lookup asks about that one."""
    sender, _, sent, client = harness({})
    asked: list[tuple[str, int]] = []

    async def lookup(b: Batch) -> dict[str, Result]:
        asked.append((b.bulk_id, b.expires_at))
        return {}

    sender.provider.lookup = lookup  # type: ignore[method-assign]

    async def go() -> None:
        await settled_claims(client, "ants|1700000000000|c-b0-old")
        await sender.process(batch())

    asyncio.run(go())
    assert asked == [("c-b0-old", 1_700_000_000_000)]
    assert [b.bulk_id for b in sent] == ["c-b0"]  # not there: sent, as this batch


def test_what_the_asked_gateway_lacks_goes_back_through_the_routes() -> None:
    """A run that came to ask ants (maybe down) sends nothing through it: what ants does
    not have goes back through the routes, its claims ended; what it has is recorded."""
    sender, broker, sent, client = harness({})
    sender.provider.taken = {"c-0"}  # type: ignore[attr-defined]
    b = batch()
    asking = b.only(list(b.destinations), meta={"ask": "ants"})

    async def go() -> None:
        await settled_claims(client, f"ants|{b.expires_at}|c-b0")
        await sender.process(asking)

    asyncio.run(go())
    assert sent == [] and sorted(sender.provider.asked) == ["c-0", "c-1", "c-2"]  # type: ignore[attr-defined]
    [follow] = followups(broker)
    assert follow["m"] == {} and [d[0] for d in follow["d"]] == ["c-1", "c-2"]
    assert asyncio.run(_claims(client)) == [None, None, None]
    assert asyncio.run(states(client))[0] == "accepted"


def test_requests_are_numbered_for_a_gateway_that_knows_them_by_a_number() -> None:
    """SmsManager's customid: a number per request, unique (a counter), wrapping below
    the gateway's bound; the gateway ids are kept under the numbered batch."""
    from dataclasses import replace

    from core.batch import REQUEST_NUMBER_KEY
    from providers import registry

    sender, _, sent, client = harness({})
    sender.numbered = 2  # below 3: 1, 2, then 1 again
    sender.provider.provider_ids = lambda b: {  # type: ignore[method-assign]
        d.message_id: f"{b.meta[REQUEST_NUMBER_KEY]}:{d.to}" for d in b.destinations
    }

    async def go() -> None:
        for seq in range(3):
            b = batch()
            await sender.process(
                replace(
                    b,
                    bulk_id=f"c-b{seq}",
                    destinations=(Destination(f"c-{seq}", f"6681234560{seq}"),),
                )
            )

    asyncio.run(go())
    assert [b.meta[REQUEST_NUMBER_KEY] for b in sent] == [1, 2, 1]
    assert asyncio.run(client.get(keys.provider_id("ants", "2:66812345601"))) == b"c-1"
    assert registry.get("smsmanager").profile.numbered_requests == 2**31 - 1


@pytest.mark.parametrize("gated", [False, True], ids=["no limits gate", "limits gate"])
def test_a_pause_meanwhile_parks_the_batch_in_hand_before_its_request(gated: bool) -> None:
    """An operator pauses while this run is busy (here: asking about unknown outcomes):
    its request does not leave; the batch is parked.  With the limits gate, the pause flag
    is read beside it."""
    sender, _, sent, client = harness({})
    if gated:
        sender.gate = Gate(AsyncLimiter(client), sender.ctx.settings, ANTS)
    b = batch()

    async def lookup(asked: Batch) -> dict[str, Result]:
        await client.hset(keys.campaign_meta("c"), "paused", "paused by an operator")
        return {}

    sender.provider.lookup = lookup  # type: ignore[method-assign]

    async def go() -> None:
        await settled_claims(client, f"ants|{b.expires_at}|c-b0")
        await sender.process(b)

    asyncio.run(go())
    assert sent == []
    assert asyncio.run(client.llen(keys.campaign_parked("c"))) == 1
    assert set(asyncio.run(states(client)).values()) == {"paused"}


def test_a_canceled_campaign_ends_the_batch_in_hand_canceled() -> None:
    sender, broker, sent, client = harness({})

    async def go() -> None:
        await client.hset(keys.campaign_meta("c"), mapping={"canceled": 1, "paused": "x"})
        await sender.process(batch())

    asyncio.run(go())
    assert sent == [] and followups(broker) == []
    assert asyncio.run(client.llen(keys.campaign_parked("c"))) == 0
    assert set(asyncio.run(states(client)).values()) == {"canceled"}


@pytest.mark.parametrize("taken", [set(), {"c-1"}])
def test_a_lookup_that_proves_no_absence_holds_the_rest_unknown_never_resends(
    taken: set[str],
) -> None:
    """SmsManager: "not in the list" does not mean "not taken": what the lookup does not
    find is held `unknown` (claim ended, kept for an operator), never sent again."""
    sender, broker, sent, client = harness({})
    sender.proves_absence = False
    sender.provider.taken = set(taken)  # type: ignore[attr-defined]

    async def go() -> None:
        await claim_as_another_run(client, age_ms=settle_ms(Settings().http_timeout) + 1)
        await sender.process(batch())
        await sender.process(batch())  # a redelivered copy: nothing more goes out

    asyncio.run(go())
    assert sent == []
    held = {i: "unknown" for i in range(3) if f"c-{i}" not in taken}
    assert asyncio.run(states(client)) == {**{i: "accepted" for i in range(3)}, **held}
    assert asyncio.run(_claims(client)) == [None, None, None]
    kept = asyncio.run(client.hkeys(keys.campaign_unknown("c")))
    assert sorted(k.decode() for k in kept) == [f"c-{i}" for i in sorted(held)]
    assert followup_messages(broker) == []


def test_a_lookup_that_finds_it_taken_and_final_records_its_delivery_state() -> None:
    """SMSC.ru: found taken and already undeliverable: accepted, then undeliverable (a
    delivery outcome), never `failed`."""
    sender, _, sent, client = harness({})
    done = Verdict(Action.ALREADY_DONE, "20", "UNDELIVERABLE", "SMSC has it")

    async def lookup(b: Batch) -> dict[str, Result]:
        return {
            d.message_id: Result(d.message_id, d.to, done, state="undeliverable")
            for d in b.destinations
        }

    sender.provider.lookup = lookup  # type: ignore[method-assign]

    async def go() -> None:
        await claim_as_another_run(client, age_ms=settle_ms(Settings().http_timeout) + 1)
        await sender.process(batch())

    asyncio.run(go())
    assert sent == []
    assert asyncio.run(states(client)) == {i: "undeliverable" for i in range(3)}
    counts = asyncio.run(client.hgetall(keys.campaign_counts("c")))
    assert counts.get(b"undeliverable") == b"3" and not int(counts.get(b"failed", 0))


@pytest.mark.parametrize("stage", [":c", ":s", ""])
def test_a_staged_claim_whose_request_never_left_is_sent_not_held(stage: str) -> None:
    """A run that died before its request started (stage c) sent nothing: the next run
    sends, without asking; one that died as it left (s, or a claim that does not say)
    is asked about, and what the gateway cannot show is held unknown."""
    sender, _, sent, client = harness({})
    sender.proves_absence = False

    async def go() -> list[Any]:
        await claim_as_another_run(client, settle_ms(Settings().http_timeout) + 1, stage=stage)
        await sender.process(batch())
        return await _claims(client)

    left = asyncio.run(go())
    asked = sender.provider.asked  # type: ignore[attr-defined]
    if stage == ":c":
        assert asked == [] and len(sent) == 1 and len(sent[0].destinations) == 3
        assert asyncio.run(states(client)) == {i: "accepted" for i in range(3)}
    else:
        assert sorted(asked) == ["c-0", "c-1", "c-2"] and sent == []
        assert asyncio.run(states(client)) == {i: "unknown" for i in range(3)}
    assert left == [None, None, None]


def test_staged_claims_say_claimed_then_sending_before_the_request() -> None:
    sender, _, _, client = harness({})
    sender.proves_absence = False
    seen: list[list[Any]] = []
    send = sender.provider.send

    async def spy(b: Batch) -> list[Result]:
        seen.append(await _claims(client))
        return await send(b)

    sender.provider.send = spy  # type: ignore[method-assign]
    asyncio.run(sender.process(batch()))
    stage_s = re.compile(rb"^[^:|]+:\d+:s(\+\d+)?$")  # its stage, then its settle time
    assert all(c is not None and stage_s.match(c.split(b"|")[0]) for c in seen[0])


def test_a_lookup_waits_its_turn_of_the_accounts_status_requests() -> None:
    """SMSC.ru: one mass status request a minute per login, shared with `reports poll`: a
    lookup past it is put off (claims kept, asked there later), not sent to get error 9."""
    from core.limits.spec import Limit

    sender, broker, sent, client = harness({})
    sender.status_rate = Limit(1, 60_000)

    others = tuple(Destination(f"c-{i}", f"6681234560{i}") for i in range(3, 6))

    async def go() -> None:
        settled = settle_ms(Settings().http_timeout) + 1
        await claim_as_another_run(client, age_ms=settled)
        await sender.process(batch())  # asks: its turn
        await claim_as_another_run(client, age_ms=settled, ids=range(3, 6))
        await sender.process(batch().only(list(others)))  # not this minute

    asyncio.run(go())
    asked = sender.provider.asked  # type: ignore[attr-defined]
    assert sorted(asked) == ["c-0", "c-1", "c-2"] and len(sent) == 1
    [follow] = followup_messages(broker)
    assert [d[0] for d in follow["args"][0]["d"]] == ["c-3", "c-4", "c-5"]
    assert follow["args"][0]["m"]["ask"] == sender.name
    assert 50_000 < follow["options"]["eta"] - time.time() * 1000 <= 61_000


# ---------------------------------------------------------------- the claim right before the write


class _Clock:
    """The sender's monotonic clock, moved on by a simulated stall."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def test_a_claim_taken_over_during_a_stall_before_the_request_stops_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 20: the claim was checked (or stamped at start), then the request numbered and
    the gateway's ids written, then the request sent.  A Redis stall longer than the settle
    time in between let another run take the claims over, ask, and send, while the first
    run's request still went out.  The stall is driven at the request numbering: the
    first run's stamps age past the settle time (Redis time) and its clock moves on as
    much; a second copy of the batch then runs start to end."""
    import workers.send.claiming as sender_module

    clock = _Clock()
    monkeypatch.setattr(sender_module, "monotonic", clock, raising=False)
    client = fakeredis.FakeAsyncRedis()
    a, _, _, _ = harness({}, client=client)
    b, _, _, _ = harness({}, client=client)
    gateway = a.provider
    b.provider = gateway
    stalled: list[bool] = []

    async def stall_then_other_run(b_: Batch) -> None:
        settle = a.settle + 1
        for d in b_.destinations:  # what passed in Redis time during the stall
            p = ledger.place(d.message_id)
            claim = (await client.hget(p.claim_key, p.field)).decode()
            aged = re.sub(r"^([^:|]*):(\d+)", lambda m: f"{m[1]}:{int(m[2]) - settle}", claim)
            await client.hset(p.claim_key, p.field, aged)
        clock.offset += settle / 1000  # ... and on the worker's clock
        await b.process(batch())  # another copy: takes the settled claims over, asks, sends

    a.numbered = 1000  # its requests are numbered: an INCR before each
    real_incr = client.incr

    async def incr(key: str) -> int:
        n = await real_incr(key)
        if not stalled:
            stalled.append(True)
            await stall_then_other_run(batch())
        return n

    monkeypatch.setattr(client, "incr", incr)
    asyncio.run(a.process(batch()))
    sends = [d.message_id for s in gateway.sent for d in s.destinations]  # type: ignore[attr-defined]
    assert stalled and sorted(sends) == ["c-0", "c-1", "c-2"]  # each once: by the second run
    assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}


@pytest.mark.parametrize("slow", [1, 5])
def test_a_claim_answered_too_late_is_claimed_again_or_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, slow: int
) -> None:
    """A CLAIM whose answer took longer than CLAIM_ANSWER_MAX_MS may have been stamped so
    long before the request that another run could take it over while the request is on
    its way: it is claimed again; when every answer is that late, nothing is sent (the
    destinations are deferred).  `slow`: how many CLAIM answers come late."""
    import workers.send.claiming as sender_module

    clock = _Clock()
    monkeypatch.setattr(sender_module, "monotonic", clock, raising=False)
    sender, broker, sent, client = harness({})
    sender.proves_absence = False  # staged claims: a CLAIM before every request
    real_claims = sender_module.claims
    late: list[int] = []

    async def claims(client_: Any, mode: Any, *args: Any, **kw: Any) -> Any:
        out = await real_claims(client_, mode, *args, **kw)
        if mode.value == "claim" and len(late) < slow:
            late.append(1)
            clock.offset += 3.0  # the answer came 3 s after the call
        return out

    monkeypatch.setattr(sender_module, "claims", claims)
    asyncio.run(sender.process(batch()))
    if slow == 1:
        assert len(late) == 1 and len(sent) == 1  # claimed again in time, then sent
        assert asyncio.run(states(client)) == {0: "accepted", 1: "accepted", 2: "accepted"}
    else:
        assert sent == []
        assert asyncio.run(states(client)) == {0: "deferred", 1: "deferred", 2: "deferred"}
        assert asyncio.run(_claims(client)) == [None, None, None]  # never sent: released
        assert sorted(d[0] for f in followups(broker) for d in f["d"]) == ["c-0", "c-1", "c-2"]


def test_waiting_destinations_are_counted_by_their_reason_code() -> None:
    """A retry and the gateway's throttling each count under their code (status `waiting`)."""
    sender, _, _, client = harness({1: 21, 2: 20})
    asyncio.run(sender.process(batch()))
    waiting = asyncio.run(client.hgetall(keys.campaign_waiting("c")))
    counts = {k.decode(): int(v) for k, v in waiting.items() if b":" not in k}
    assert counts == {"retry": 1, "gateway_throttled": 1}


def test_a_lookup_the_gateway_throttles_waits_its_retry_after() -> None:
    """SMSC.ru error 9 on status.php: asked again no sooner than the gateway said (a
    refused request counts against the minute too), never sooner by our own backoff."""
    sender, broker, sent, client = harness({})

    async def lookup(b: Batch) -> dict[str, Result]:
        raise GatewayThrottled("error 9", retry_after=600.0)

    sender.provider.lookup = lookup  # type: ignore[method-assign]

    async def go() -> None:
        await claim_as_another_run(client, age_ms=settle_ms(Settings().http_timeout) + 1)
        await sender.process(batch())

    asyncio.run(go())
    assert sent == [] and followup_messages(broker) == []
    [follow] = asyncio.run(scheduled(client))  # ten minutes: kept in Redis
    assert 590_000 < follow["options"]["eta"] - time.time() * 1000 <= 601_000


@pytest.mark.parametrize(("provider", "sent_as"), [("smsmanager", None), ("ants", "binary")])
def test_a_binary_batch_at_a_gateway_without_binary_fails_never_sent_as_text(
    provider: str, sent_as: str | None
) -> None:
    """A route failed over to SmsManager: each message fails BINARY_UNSUPPORTED, nothing is
    sent; ANTS sends it."""
    _, _, _, client = harness({})
    s = Settings(redis_url="redis://x")
    gateway = FakeGateway({})
    ctx = Context(s, None, client, StubBroker())  # type: ignore[arg-type]
    sender = BatchSender(ctx, gateway, profile=registry.get(provider).profile, name=provider)
    b = batch()
    binary = b.only(list(b.destinations), text="00ff", meta={BINARY_KEY: Binary().to_meta()})
    asyncio.run(sender.process(binary))
    events = [f for _, f in asyncio.run(client.xrange(keys.OUTCOMES))]
    if sent_as is None:
        assert gateway.sent == []
        assert {e[b"state"] for e in events} == {b"failed"}
        assert {e[b"statusId"] for e in events} == {BINARY_UNSUPPORTED.encode()}
        assert b"gateway smsmanager cannot send binary messages" in events[0][b"reason"]
    else:
        assert [sent.binary for sent in gateway.sent] == [Binary()]
        assert {e[b"state"] for e in events} == {b"accepted"}


def test_a_requests_health_count_is_written_before_its_run_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The health count of a request is written beside the run's record, not before it,
    and the run ends only once both are written (a slow count included)."""
    from workers import health

    sender, _, sent, _ = harness({})
    written: list[str] = []

    async def slow_record(*args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.05)
        written.append(args[2])
        return False

    monkeypatch.setattr(health, "record", slow_record)

    async def go() -> None:
        await sender.process(batch())
        assert written == [sender.name]  # counted before process returned

    asyncio.run(go())
    assert len(sent) == 1
