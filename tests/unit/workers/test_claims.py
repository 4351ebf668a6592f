"""claim.lua: who may send a destination, on fakeredis and on the real Redis."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import fakeredis
import orjson
import pytest
import redis.asyncio as aioredis

from core import ledger, lua, optout
from core.batch import Destination
from core.outcomes import CHUNK, Event, State, StreamPolicy, arecord
from workers import claims as claims_module
from workers.claims import CLAIM_CHUNK, Claims, Mode, Via, claims

D = [Destination(f"c-{i}", f"6681234560{i}") for i in range(4)]
SETTLE = 10_000
VIA = Via("ants", "c-b0", 1_900_000_000_000)


async def plant(client: Any, message_id: str, claim: str) -> None:
    """A claim left by another run ("{token}:{ms}[|{via}]"), as claim.lua stores one."""
    p = ledger.place(message_id)
    await client.hset(p.claim_key, p.field, claim)


Body = Callable[[Any, Callable[..., Awaitable[Claims]]], Awaitable[None]]


@pytest.fixture(params=["fakeredis", "redis"])
def on(request: pytest.FixtureRequest, redis_url: str) -> Callable[[Body], None]:
    """Run an async test body with a client of each kind (one event loop per run)."""

    def runner(body: Body) -> None:
        async def go() -> None:
            if request.param == "fakeredis":
                client: Any = fakeredis.FakeAsyncRedis()
            else:
                client = aioredis.Redis.from_url(redis_url)
                await client.flushdb()

            async def call(mode: Mode, token: str, dests: list[Destination] = D) -> Claims:
                return await claims(client, mode, token, SETTLE, "c", VIA, dests)

            try:
                await body(client, call)
            finally:
                await client.flushdb()
                await client.aclose()

        asyncio.run(go())

    return runner


def test_a_claim_keeps_other_runs_away_and_ours_is_refreshed(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        assert (await call(Mode.START, "a")).ours == D
        for mode in (Mode.START, Mode.CLAIM):
            other = await call(mode, "b")
            assert other.ours == [] and [d for d, _ in other.busy] == D
            assert all(SETTLE - 2_000 < wait <= SETTLE for _, wait in other.busy)
        assert (await call(Mode.CLAIM, "a")).ours == D  # our own: re-stamped, still ours

    on(body)


def test_settled_claims_go_to_whoever_took_them_over_last(on: Callable[[Body], None]) -> None:
    """Two runs may both take over and ask the gateway; only the last can then send."""

    async def body(client: Any, call: Any) -> None:
        for d in D:
            await plant(client, d.message_id, "dead:1")
        assert (await call(Mode.CLAIM, "b")).ours == []  # never taken right before a request
        unknown = [(d, VIA) for d in D]  # no via stored: the caller's
        assert (await call(Mode.START, "b")).unknown == unknown  # a run starting takes them over
        assert (await call(Mode.START, "c")).unknown == unknown  # old stamp kept: b may be dead
        assert (await call(Mode.CLAIM, "b")).ours == []  # b lost them: it defers
        assert (await call(Mode.CLAIM, "c")).ours == D  # c sends (stamped now)
        assert (await call(Mode.START, "d")).busy  # and c's claim is young again

    on(body)


def test_sent_and_suppressed_are_not_claimed(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        p = ledger.place("c-0")
        await client.hset(p.key, p.field, "accepted|2")
        await optout.aadd(client, optout.entries_for([D[1].to], optout.MANUAL, "asked"))
        found = await call(Mode.START, "a")
        assert (found.sent, found.suppressed, found.ours) == ([D[0]], [D[1]], D[2:])
        assert await client.hget(p.claim_key, p.field) is None

    on(body)


def test_a_claim_expires_and_says_where_its_request_may_go(
    on: Callable[[Body], None],
) -> None:
    async def body(client: Any, call: Any) -> None:
        await call(Mode.START, "a", D[:1])
        p = ledger.place("c-0")
        assert await client.ttl(p.claim_key) > 0
        claim, via = ledger.claim_of(await client.hget(p.claim_key, p.field))
        assert claim.startswith("a:")
        assert via == str(VIA)  # asked, should it be unknown

    on(body)


def test_a_settled_claim_names_the_provider_to_ask(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        via = Via("smsc", "c-b7", 1_800_000_000_000)  # the request it went out with
        await plant(client, "c-0", f"dead:1|{via}")
        assert (await call(Mode.START, "b", D[:1])).unknown == [(D[0], via)]


def test_a_claim_taken_before_claims_named_a_provider_is_the_legacy_ones(
    on: Callable[[Body], None],
) -> None:
    async def body(client: Any, call: Any) -> None:
        await plant(client, "c-0", "dead:1")
        smsc = Via("smsc", "c-b0", 1)
        found = await claims(client, Mode.START, "b", SETTLE, "c", smsc, D[:1], legacy="ants")
        assert found.unknown == [(D[0], Via("ants", "c-b0", 1))]

    on(body)


def test_events_of_runs_through_another_provider_leave_the_claim_naming_the_first(
    on: Callable[[Body], None],
) -> None:
    """Failover: ANTS timed out on c-0 (claim kept); a run through SMSC found the claim
    still young and deferred it (an event with provider smsc).  The claim still says
    ANTS, where the request may have gone, so ANTS is the one asked."""

    async def body(client: Any, call: Any) -> None:
        await call(Mode.START, "a", D[:1])  # the ANTS run
        await plant(client, "c-0", f"a:1|{VIA}")  # ...which timed out, long ago
        deferred = Event("c-0", "c", State.DEFERRED, provider="smsc", reason="busy")
        await arecord(client, [deferred], StreamPolicy())
        found = await claims(client, Mode.START, "b", SETTLE, "c", Via("smsc", "x", 2), D[:1])
        assert found.unknown == [(D[0], VIA)]

    on(body)


def test_a_claim_settles_on_its_own_runs_time_not_the_takers(on: Callable[[Body], None]) -> None:
    """Issue 20: a rolling change of SMS_HTTP_TIMEOUT.  A run with a long timeout (settle
    60 s) claimed c-0 45 s ago; a worker already on a short timeout (settle 10 s) must
    wait for the claim's own settle time, not its own, before taking it over."""

    async def body(client: Any, call: Any) -> None:
        now = await _redis_ms(client)
        long_run = await claims(client, Mode.START, "slow", 60_000, "c", VIA, D[:1])
        assert long_run.ours == D[:1]
        stored = (await client.hget(*_at("c-0"))).decode()

        async def age(ms: int) -> None:  # the claim as if stamped `ms` ago
            await client.hset(*_at("c-0"), re.sub(r"^slow:\d+", f"slow:{now - ms}", stored))

        await age(45_000)
        taker = await call(Mode.START, "quick", D[:1])  # settle 10 s (SETTLE)
        assert taker.unknown == [] and [d for d, _ in taker.busy] == D[:1]
        [(_, wait)] = taker.busy
        assert 13_000 <= wait <= 15_000  # the claim's 60 s, not the taker's 10 s
        await age(61_000)
        assert (await call(Mode.START, "quick", D[:1])).unknown == [(D[0], VIA)]

    on(body)


def test_an_old_claim_without_its_settle_time_uses_the_takers(on: Callable[[Body], None]) -> None:
    async def body(client: Any, call: Any) -> None:
        now = await _redis_ms(client)
        await plant(client, "c-0", f"old:{now - SETTLE - 1}:s|{VIA}")  # written before it
        await plant(client, "c-1", f"old:{now - SETTLE + 5_000}|{VIA}")
        found = await call(Mode.START, "b", D[:2])
        assert found.unknown == [(D[0], VIA)] and [d for d, _ in found.busy] == [D[1]]
        claim, via = ledger.claim_of(await client.hget(*_at("c-0")))
        assert claim.startswith("b:") and via == str(VIA)

    on(body)


def _at(message_id: str) -> tuple[str, str]:
    p = ledger.place(message_id)
    return p.claim_key, p.field


async def _redis_ms(client: Any) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _spy(monkeypatch: pytest.MonkeyPatch, name: str, arg: int, fail_at: int = 0) -> list[int]:
    """The item count of each call of the Lua script `name` (its JSON items at ARGV[arg]),
    from now on; with `fail_at`, that call fails before it runs (a run dying between
    chunks)."""
    sizes: list[int] = []
    real = lua.script

    def spying(client: Any, script: str, package: str = "core") -> Any:
        handle = real(client, script, package)
        if script != name:
            return handle

        def call(*, keys: Any, args: Any) -> Any:
            sizes.append(len(orjson.loads(args[arg])))
            if len(sizes) == fail_at:
                raise ConnectionError("the run died here")
            return handle(keys=keys, args=args)

        return call

    monkeypatch.setattr(lua, "script", spying)
    return sizes


def _batch(campaign: str, n: int = 1000) -> list[Destination]:
    return [Destination(f"{campaign}-{i}", f"668{i:08d}") for i in range(n)]


async def _claimed_by(client: Any, campaign: str, dests: list[Destination]) -> list[str]:
    """Each destination's claim as "{owner}|{via}" (the stamps vary), "" for none."""
    found = []
    for d in dests:
        p = ledger.place(d.message_id, campaign)
        raw = await client.hget(p.claim_key, p.field)
        found.append(re.sub(r":\d+\+\d+", "", raw.decode()) if raw else "")
    return found


def test_a_batch_of_1000_is_claimed_in_chunks_to_the_state_one_call_left(
    on: Callable[[Body], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLAIM_CHUNK destinations a call at most, and the same answers and claims as one
    call: of every ten, one already sent, one another run's young claim, one another
    run's settled claim (taken over, to ask about), one opted out in the second half
    (free in the first), six free."""

    async def prepare(client: Any, campaign: str) -> list[Destination]:
        now, dests = await _redis_ms(client), _batch(campaign)
        for i, d in enumerate(dests):
            p = ledger.place(d.message_id, campaign)
            if i % 10 == 1:
                await client.hset(p.key, p.field, "accepted|2")
            elif i % 10 == 3:
                await client.hset(p.claim_key, p.field, f"other:{now}+{SETTLE}|{VIA}")
            elif i % 10 == 4:
                await client.hset(p.claim_key, p.field, f"other:1+{SETTLE}|{VIA}")
        opted = [d.to for i, d in enumerate(dests) if i % 10 == 2 and i >= 500]
        await optout.aadd(client, optout.entries_for(opted, optout.MANUAL, "asked"))
        return dests

    def by_index(found: Claims, dests: list[Destination]) -> list[list[int]]:
        at = {d.message_id: i for i, d in enumerate(dests)}
        lists = [found.ours, found.sent, found.suppressed]
        lists += [[d for d, _ in found.busy], [d for d, _ in found.unknown]]
        return [[at[d.message_id] for d in each] for each in lists]

    async def body(client: Any, call: Any) -> None:
        answers, claimed = [], []
        for campaign, chunk in (("one", 10_000), ("chunked", CLAIM_CHUNK)):
            dests = await prepare(client, campaign)
            with monkeypatch.context() as m:
                m.setattr(claims_module, "CLAIM_CHUNK", chunk)
                sizes = _spy(m, "claim", 7)
                found = await claims(client, Mode.START, "a", SETTLE, campaign, VIA, dests)
            answers.append(by_index(found, dests))
            claimed.append(await _claimed_by(client, campaign, dests))
        assert sizes == [CLAIM_CHUNK] * (1000 // CLAIM_CHUNK)  # the chunked run's calls
        ours, sent, suppressed, busy, unknown = answers[1]
        assert (len(ours), len(sent), len(suppressed), len(busy), len(unknown)) == (
            650,
            100,
            50,
            100,
            100,
        )
        assert answers[0] == answers[1] and claimed[0] == claimed[1]
        ours, other = f"a|{VIA}", f"other|{VIA}"
        assert claimed[1][:6] == [ours, "", ours, other, ours, ours]  # 1 sent
        assert claimed[1][500:506] == [ours, "", "", other, ours, ours]  # 502 opted out

    on(body)


def test_a_run_that_dies_between_claim_chunks_leaves_claims_that_are_asked_about(
    on: Callable[[Body], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run a dies after its first chunk: those destinations keep its claims, and once they
    settle the next run asks the gateway about them (unknown), as if a had died after one
    call; the rest were never claimed, as if it had died before: the next run's own."""

    async def body(client: Any, call: Any) -> None:
        dests, settle = _batch("c"), 1_000
        with monkeypatch.context() as m:
            _spy(m, "claim", 7, fail_at=2)
            with pytest.raises(ConnectionError):
                await claims(client, Mode.START, "a", settle, "c", VIA, dests)
        held = await _claimed_by(client, "c", dests)
        assert held == [f"a|{VIA}"] * CLAIM_CHUNK + [""] * (1000 - CLAIM_CHUNK)
        assert [d for d, _ in (await call(Mode.START, "b", dests)).busy] == dests[:CLAIM_CHUNK]
        await asyncio.sleep(settle * 2 / 1000)
        found = await claims(client, Mode.START, "b", SETTLE, "c", VIA, dests)
        assert found.unknown == [(d, VIA) for d in dests[:CLAIM_CHUNK]]  # asked first
        assert found.ours == dests[CLAIM_CHUNK:] and not found.busy

    on(body)


def test_a_run_that_dies_between_record_chunks_leaves_the_rest_to_be_asked_about(
    on: Callable[[Body], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run a sent 1,000 and dies recording them, after the first chunk of events: those
    are sent (the next run drops them), the rest keep a's claims and are asked about at
    the gateway, never sent again unasked; no claim is left to nobody."""

    async def body(client: Any, call: Any) -> None:
        dests, settle = _batch("c"), 50
        assert (await claims(client, Mode.START, "a", settle, "c", VIA, dests)).ours == dests
        accepted = [
            Event(d.message_id, "c", State.ACCEPTED, "c-b0", d.to, 1, release="a") for d in dests
        ]
        with monkeypatch.context() as m:
            _spy(m, "record", 4, fail_at=2)
            with pytest.raises(ConnectionError):
                await arecord(client, accepted, StreamPolicy())
        await asyncio.sleep(settle * 2 / 1000)
        found = await claims(client, Mode.START, "b", SETTLE, "c", VIA, dests)
        assert found.sent == dests[:CHUNK]
        assert found.unknown == [(d, VIA) for d in dests[CHUNK:]]
        assert not found.ours and not found.busy

    on(body)
