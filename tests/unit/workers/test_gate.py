"""The limits gate (workers.gate) on fakeredis: admitted, slept and rechecked, deferred, failed.

The real-Redis, real-workers path is covered by tests/integration/test_limits_e2e.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from typing import Any

import fakeredis
import orjson
import pytest
from dramatiq.brokers.stub import StubBroker

from config.settings import Settings, load
from core import keys
from core.batch import BINARY_KEY, Batch, Destination
from core.binary import Binary
from core.errors import ConfigError
from core.limits import AsyncLimiter, Limit, Rate
from core.limits.buckets import (
    ACCOUNT,
    TRANSACTIONAL_BUCKET,
    Bucket,
    account_buckets,
)
from core.outcomes import Waiting
from core.queues import QUEUES
from dispatcher import otp
from providers.ants import PROFILE as ANTS
from providers.ants.codes import classify_status
from providers.ants.sender import Result
from workers.gate import SHORT_WAIT_MS, Gate, Held, burst_aligned, split_held
from workers.runtime import Context
from workers.sender import BatchSender
from workers.slots import Slots

ACCEPTED = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
DAY_MS = 86_400_000
LONG_TEXT = "x" * 200  # 2 GSM-7 parts


class CountingLimiter(AsyncLimiter):
    """An AsyncLimiter that counts its calls by method."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.calls: Counter[str] = Counter()

    async def flooding(self, items: Any, *args: Any) -> list[int]:
        self.calls["flooding"] += 1
        return await super().flooding(items, *args)

    async def throughput(self, name: str, *args: Any) -> list[int]:
        self.calls[f"throughput:{name}"] += 1
        return await super().throughput(name, *args)


def make_batch(
    n: int,
    *,
    to: str | None = None,
    text: str | None = "Hi",
    expires_ms: int = DAY_MS,
    transactional: bool = False,
    seq: int = 0,
) -> Batch:
    dests = tuple(Destination(f"c-{seq}-{i}", to or f"668123{i:05d}") for i in range(n))
    expires = int(time.time() * 1000) + expires_ms
    return Batch("c", seq, f"c-b{seq}", "Shop", text, dests, expires, transactional=transactional)


def gate_for(**settings: Any) -> tuple[Gate, CountingLimiter]:
    limiter = CountingLimiter(fakeredis.FakeAsyncRedis())
    return Gate(limiter, Settings(**settings), ANTS), limiter


def test_everything_admitted_in_one_call_per_limit() -> None:
    gate, limiter = gate_for(rate=Rate(1000, 1000), burst=2000)
    admitted, held = asyncio.run(gate(make_batch(500)))
    assert len(admitted) == 500 and held == []
    assert limiter.calls == {"flooding": 1, f"throughput:{ACCOUNT}": 1}


def test_costs_are_sms_parts() -> None:
    gate, _ = gate_for(
        rate=Rate(10, 1000), burst=9, transactional_share=0
    )  # a fresh bucket admits 10 parts
    admitted, held = asyncio.run(gate(make_batch(8, text=LONG_TEXT)))
    assert len(admitted) == 5 and len(held) == 3
    assert all("throughput" in h.why and h.paced for h in held)


def test_a_binary_payload_costs_its_parts() -> None:
    gate, _ = gate_for(rate=Rate(10, 1000), burst=9, transactional_share=0)
    payload = "ab" * 269  # 269 octets: 3 parts of 134 (as a text, 538 characters: 4 parts)
    b = make_batch(4, text=payload)
    binary = b.only(list(b.destinations), meta={BINARY_KEY: Binary().to_meta()})
    admitted, held = asyncio.run(gate(binary))
    assert len(admitted) == 3 and len(held) == 1  # 9 parts of the 10 a fresh bucket admits


def test_flooding_holds_the_extra_messages_to_one_number() -> None:
    gate, limiter = gate_for(flood_varied=Limit(3, 3_600_000), flood_identical=Limit(2, 3_600_000))
    batch = Batch(
        "c",
        0,
        "b",
        "Shop",
        None,
        tuple(Destination(f"m{i}", "66812345678", f"text {i % 2}") for i in range(5)),
        int(time.time() * 1000) + DAY_MS,
    )
    admitted, held = asyncio.run(gate(batch))
    assert [d.message_id for d in admitted] == ["m0", "m1", "m2"]
    assert [h.dest.message_id for h in held] == ["m3", "m4"]
    assert all(3_590_000 < h.wait <= 3_602_000 for h in held)  # window + margin
    assert all(h.why.startswith("anti-flooding: at most 3/1h") and not h.paced for h in held)
    assert limiter.calls == {"flooding": 1}  # no SMS_RATE: no throughput call


def test_throughput_checks_only_what_flooding_admitted_and_recheck_keeps_the_slot() -> None:
    gate, limiter = gate_for(rate=Rate(10, 1000), burst=1, flood_varied=Limit(1, 3_600_000))
    batch = make_batch(4, to="66812345678")  # one number: flooding admits only the first

    async def go() -> None:
        a1, h1 = await gate(batch)
        assert [d.message_id for d in a1] == ["c-0-0"] and len(h1) == 3
        _, h2 = await gate(batch.only([batch.destinations[0]]))  # recheck in the same run
        assert h2 and "throughput" in h2[0][2]  # refused by throughput, not by flooding

    asyncio.run(go())
    assert limiter.calls == {"flooding": 1, f"throughput:{ACCOUNT}": 2}


def test_transactional_share_is_a_reserve_in_the_account_bucket_and_a_cap() -> None:
    rate = Rate(200, 1000)
    [campaign] = account_buckets(rate, 20, 0.2, False)
    cap, account = account_buckets(rate, 20, 0.2, True)
    assert campaign == Bucket(ACCOUNT, rate, 20, reserve=4)  # the whole rate, 4 parts left free
    assert account == Bucket(ACCOUNT, rate, 20)  # transactional may use those 4
    assert (cap.name, cap.rate.per_second, cap.burst) == (TRANSACTIONAL_BUCKET, 40, 4)
    assert account_buckets(rate, None, 0, True) == [Bucket(ACCOUNT, rate, 20)]  # 0.1 s of rate
    assert account_buckets(None, None, 0.2, False) == []


def test_a_saturated_campaign_bucket_does_not_delay_transactional() -> None:
    gate, _ = gate_for(rate=Rate(100, 1000), burst=10, transactional_share=0.2)

    async def go() -> None:
        _, held = await gate(make_batch(200))
        assert held  # the campaign took all it may: the burst less the reserve
        admitted, held = await Gate(gate.limiter, gate.settings, ANTS)(
            make_batch(1, transactional=True, seq=1)
        )
        assert len(admitted) == 1 and held == []

    asyncio.run(go())


def test_burst_aligned_waits() -> None:
    bucket = Bucket("b", Rate(100, 1000), 5)  # 10 ms per part, 50 ms per burst
    assert burst_aligned([0, 0, 10, 20, 30, 70, 80], bucket) == [0, 0, 30, 30, 30, 70, 80]
    assert burst_aligned([0, 0], bucket) == [0, 0]


def test_split_held_follows_the_head_of_the_line() -> None:
    d = [Destination(f"m{i}", "1") for i in range(3)]
    short = [
        Held(d[0], 200, "t", Waiting.RATE_LIMIT),
        Held(d[1], 2_500, "t", Waiting.RATE_LIMIT),
        Held(d[2], 40_000, "t", Waiting.RATE_LIMIT),
    ]
    recheck, defer, sleep = split_held(short, 30_000)
    assert (recheck, [h[0] for h in defer], sleep) == (d[:2], [d[2]], 200)
    long = [
        Held(d[0], SHORT_WAIT_MS, "t", Waiting.RATE_LIMIT),
        Held(d[1], 5_000, "t", Waiting.RATE_LIMIT),
    ]
    assert split_held(long, 30_000) == ([], long, 0)
    assert split_held(short, 100) == ([], short, 0)  # budget (or validity) spent


# -- through BatchSender ---------------------------------------------------------------------


def harness(**settings: Any) -> tuple[BatchSender, StubBroker, list[Batch], Any]:
    broker = StubBroker()
    for q in QUEUES:
        broker.declare_queue(q)
    client = fakeredis.FakeAsyncRedis()
    s = Settings(redis_url="redis://x", **settings)
    ctx = Context(s, None, client, broker)  # type: ignore[arg-type]
    gateway = AcceptingGateway()
    sender = BatchSender(ctx, gateway, Gate(AsyncLimiter(client), s, ANTS))
    return sender, broker, gateway.sent, client


class AcceptingGateway:
    """A provider that accepts everything and remembers the requests."""

    def __init__(self) -> None:
        self.sent: list[Batch] = []

    async def send(self, b: Batch) -> list[Result]:
        self.sent.append(b)
        return [Result(d.message_id, d.to, classify_status(ACCEPTED), "1") for d in b.destinations]

    async def lookup(self, b: Batch) -> dict[str, Result]:
        return {}

    def provider_ids(self, b: Batch) -> dict[str, str]:
        return {}


def followups(broker: StubBroker) -> list[tuple[dict[str, Any], int]]:
    out = []
    for q in broker.queues:
        while not broker.queues[q].empty():
            m = orjson.loads(broker.queues[q].get_nowait())
            out.append((m["args"][0], m["options"].get("eta", 0)))
    return out


async def events(client: Any) -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in f.items()}
        for _, f in await client.xrange(keys.OUTCOMES)
    ]


def test_short_waits_are_slept_in_the_worker_and_sent() -> None:
    sender, broker, sent, client = harness(rate=Rate(20, 1000), burst=4)
    start = time.monotonic()
    asyncio.run(sender.process(make_batch(10)))
    elapsed = time.monotonic() - start
    assert sum(len(b.destinations) for b in sent) == 10 and len(sent) >= 2
    assert 0.2 < elapsed < 2.0  # 5 at once, then paced at 20/s
    assert followups(broker) == []
    states = {e["state"] for e in asyncio.run(events(client))}
    assert states == {"accepted"}


def test_long_waits_are_deferred_with_reason_and_retry_time() -> None:
    flood = Limit(1, 3_600_000)
    sender, broker, sent, client = harness(flood_varied=flood)
    first = make_batch(1, to="66812345678")
    second = make_batch(1, to="66812345678", text="Other", seq=1)

    async def go() -> list[dict[str, str]]:
        await sender.process(first)
        await sender.process(second)
        return await events(client)

    evs = asyncio.run(go())
    assert [len(b.destinations) for b in sent] == [1]
    deferred = [e for e in evs if e["state"] == "deferred"]
    assert len(deferred) == 1 and deferred[0]["messageId"] == "c-1-0"
    assert "anti-flooding" in deferred[0]["reason"]
    waiting = asyncio.run(client.hget(keys.campaign_waiting("c"), Waiting.ANTI_FLOODING))
    assert waiting == b"1"  # counted by its reason while it waits
    assert int(deferred[0]["retryAt"]) > time.time() * 1000 + 3_500_000
    assert followups(broker) == []  # an hour: it waits in Redis, not in a worker's memory
    [(raw, due)] = asyncio.run(client.zrange(keys.campaign_scheduled("c"), 0, -1, withscores=True))
    batch_dict = orjson.loads(raw)
    assert batch_dict["a"] == 1  # a deferral does not count as an attempt
    assert due > time.time() * 1000 + 3_500_000


def test_a_message_that_could_only_go_after_its_validity_fails() -> None:
    sender, broker, sent, client = harness(flood_varied=Limit(1, 3_600_000))

    async def go() -> list[dict[str, str]]:
        await sender.process(make_batch(1, to="66812345678"))
        await sender.process(make_batch(1, to="66812345678", text="B", seq=1, expires_ms=60_000))
        return await events(client)

    evs = asyncio.run(go())
    dead = [e for e in evs if e["state"] == "dead"]
    assert len(dead) == 1 and dead[0]["messageId"] == "c-1-0"
    assert dead[0]["reason"].startswith("validity period ends before the next try: anti-flooding")
    assert followups(broker) == [] and len(sent) == 1


def test_concurrency_slots_serialise_requests() -> None:
    limiter = AsyncLimiter(fakeredis.FakeAsyncRedis())
    running, peak = 0, 0
    slots = Slots(limiter, Settings(max_concurrency=2))

    async def send(b: Batch) -> int:
        nonlocal running, peak
        async with slots.hold():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
        return len(b.destinations)

    async def go() -> list[int]:
        return await asyncio.gather(*(send(make_batch(1, seq=i)) for i in range(6)))

    assert asyncio.run(go()) == [1] * 6 and peak == 2


def test_the_lower_of_the_setting_and_the_providers_cap_wins() -> None:
    from providers import registry

    smsc = registry.get("smsc").profile
    limiter = AsyncLimiter(fakeredis.FakeAsyncRedis())
    assert Slots(limiter, Settings(max_concurrency=20), smsc, "smsc").limit == 4
    assert Slots(limiter, Settings(max_concurrency=2), smsc, "smsc").limit == 2
    assert Slots(limiter, Settings(), smsc, "smsc").limit == 4
    assert Slots(limiter, Settings(), registry.get("ants").profile, "ants").limit == 0


def test_no_concurrency_limit_takes_no_slot() -> None:
    class NoLimiter:
        async def acquire(self, *a: object) -> int:
            raise AssertionError("no slot without SMS_MAX_CONCURRENCY")

    async def go() -> None:
        async with Slots(NoLimiter(), Settings()).hold():  # type: ignore[arg-type]
            pass

    asyncio.run(go())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMS_RATE", "200"),
        ("SMS_RATE", "0/1s"),
        ("SMS_BURST", "-1"),
        ("SMS_SENDER_RATE", "5/1y"),
        ("SMS_TRANSACTIONAL_SHARE", "1.2"),
        ("SMS_TRANSACTIONAL_SHARE", "a fifth"),
        ("SMS_FLOOD_VARIED", "20/h"),
        ("SMS_FLOOD_IDENTICAL", "6"),
        ("SMS_FLOOD_ENABLED", "perhaps"),
        ("SMS_MAX_CONCURRENCY", "-1"),
        ("OTP_SEND_PER_PHONE", "3/1w"),
        ("OTP_SEND_PER_APP", "x"),
        ("OTP_VERIFY_PER_PHONE", "1/0s"),
        ("OTP_PIN_ATTEMPTS", "0"),
        ("OTP_PIN_TTL", "15 min"),
    ],
)
def test_limit_settings_name_the_bad_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        load({variable: value})
    assert e.value.variable == variable


def test_limit_settings_defaults_and_values() -> None:
    d = load({})
    assert (d.rate, d.flood_enabled, d.max_concurrency, d.transactional_share) == (
        None,
        True,
        0,
        0.2,
    )
    assert (d.flood_varied, d.flood_identical) == (None, None)  # the gateway's own (profile)
    assert (str(ANTS.flood_varied), str(ANTS.flood_identical)) == ("20/1h", "6/1h")
    assert (d.otp_send_per_phone, d.otp_pin_attempts) == (None, None)  # the OTP gateway's own
    chosen = otp.limits(d)  # ANTS's 2FA defaults (providers.ants.otp)
    assert (str(chosen.send_per_phone), str(chosen.send_per_app)) == ("3/1d", "10000/1d")
    assert (str(chosen.verify_per_phone), chosen.pin_attempts, chosen.pin_ttl_ms) == (
        "1/3s",
        10,
        900_000,
    )
    s = load(
        {
            "SMS_RATE": "200/1s",
            "SMS_BURST": "30",
            "SMS_SENDER_RATE": "50/1s",
            "SMS_TRANSACTIONAL_SHARE": "0",
            "SMS_FLOOD_ENABLED": "0",
            "SMS_MAX_CONCURRENCY": "5",
            "OTP_APPLICATION_ID": "app",
            "OTP_MESSAGE_ID": "msg",
            "OTP_PIN_TTL": "5m",
        }
    )
    assert (s.rate, s.burst, s.sender_rate) == (Rate(200, 1000), 30, Rate(50, 1000))
    assert (s.transactional_share, s.flood_enabled, s.max_concurrency) == (0.0, False, 5)
    assert (s.otp_application_id, s.otp_message_id, s.otp_pin_ttl_ms) == ("app", "msg", 300_000)
    assert otp.limits(s) == dataclasses.replace(chosen, pin_ttl_ms=300_000)  # the rest: ANTS's
    assert s.redacted()["rate"] == "200/1s"


def test_a_message_decided_again_keeps_its_one_flooding_slot() -> None:
    """Runs of one batch (5xx retries, deferrals, redeliveries) never add flooding entries:
    after six runs the identical-text window (6/1h) still has room for other messages."""
    client = fakeredis.FakeAsyncRedis()
    settings = Settings(flood_identical=Limit(6, 3_600_000))
    batch = make_batch(1, to="66812345678")

    async def go() -> list[int]:
        admitted = []
        for _ in range(10):  # a fresh Gate each time: a new run of the same batch
            passed, _held = await Gate(AsyncLimiter(client), settings, ANTS)(batch)
            admitted.append(len(passed))
        other = make_batch(5, to="66812345678", seq=1)  # same text, other messageIds
        passed, _held = await Gate(AsyncLimiter(client), settings, ANTS)(other)
        return [*admitted, len(passed)]

    assert asyncio.run(go()) == [1] * 10 + [5]


def test_throughput_deferral_is_one_follow_up_not_one_per_destination() -> None:
    sender, broker, sent, _client = harness(rate=Rate(1, 10_000), burst=0, transactional_share=0)
    asyncio.run(sender.process(make_batch(300)))
    assert [len(b.destinations) for b in sent] == [1]
    [(batch_dict, _eta)] = followups(broker)
    assert len(batch_dict["d"]) == 299 and batch_dict["a"] == 1
