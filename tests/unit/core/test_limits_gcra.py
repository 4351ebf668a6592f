"""GCRA throughput (gcra.lua), on fakeredis and on the real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from core import keys
from core.limits import Limiter, Rate
from core.sms import count_parts

RATE = Rate.parse("200/1s")  # one unit every 5 ms
T_MS = 5
BURST = 10
SLACK_MS = 10_000  # a noisy machine may stall for seconds, never for a minute


def test_fresh_bucket_admits_burst_plus_one_then_paces(limiter: Limiter) -> None:
    waits = limiter.throughput("acct", RATE, BURST, [1] * 20)
    # one call = one Redis TIME: the schedule is exact
    assert waits == [0] * (BURST + 1) + [T_MS * k for k in range(1, 10)]


def test_refused_items_get_increasing_waits_and_order_is_kept(limiter: Limiter) -> None:
    waits = limiter.throughput("acct", RATE, 2, [1, 1, 1, 5, 1, 1])
    assert waits[:3] == [0, 0, 0]
    refused = waits[3:]
    assert all(w > 0 for w in refused)  # the small ones after the big one wait too
    assert refused == sorted(refused) and len(set(refused)) == len(refused)
    # 5 units exceed the 3-unit burst: they wait for a full bucket (3T), then pay 5T,
    # after which each unit waits its turn
    assert refused == [3 * T_MS, 6 * T_MS, 7 * T_MS]


def test_cost_is_the_number_of_sms_parts(limiter: Limiter) -> None:
    texts = ["a" * 400, "hi", "hello", "again"]  # 400 GSM-7 chars = 3 parts
    costs = [count_parts(text)[1] for text in texts]
    assert costs == [3, 1, 1, 1]
    waits = limiter.throughput("acct", RATE, 4, costs)  # 5 units at once
    assert waits == [0, 0, 0, T_MS]


def test_a_cost_above_the_burst_goes_when_the_bucket_is_full_and_pays_its_debt(
    limiter: Limiter,
) -> None:
    waits = limiter.throughput("acct", RATE, 2, [25, 1])  # 25 parts, 3 units of burst
    assert waits == [0, (25 - 3 + 1) * T_MS]


def test_fractional_intervals(limiter: Limiter) -> None:
    waits = limiter.throughput("acct", Rate.parse("3/1s"), 0, [1, 1, 1, 1])
    assert waits == [0, 334, 667, 1000]


def test_the_state_persists_between_calls(limiter: Limiter) -> None:
    slow = Rate.parse("1/1m")  # so the time between the calls cannot matter
    assert limiter.throughput("acct", slow, 2, [1, 1, 1]) == [0, 0, 0]
    [wait] = limiter.throughput("acct", slow, 2, [1])
    assert 60_000 - SLACK_MS < wait <= 60_000


def test_the_bucket_refills_with_time_but_never_beyond_the_burst(limiter: Limiter) -> None:
    assert limiter.throughput("acct", RATE, BURST, [1] * (BURST + 1)) == [0] * (BURST + 1)
    time.sleep((BURST + 1) * T_MS / 1000 + 0.05)  # more than enough to refill the whole burst
    waits = limiter.throughput("acct", RATE, BURST, [1] * (BURST + 2))
    assert waits[: BURST + 1] == [0] * (BURST + 1) and 0 < waits[-1] <= T_MS


def test_sustained_rate_never_exceeds_burst_plus_elapsed(limiter: Limiter) -> None:
    admitted = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        admitted += limiter.throughput("acct", RATE, BURST, [1]) == [0]
    elapsed_ms = (time.monotonic() - started) * 1000
    assert BURST + 1 <= admitted <= BURST + 1 + elapsed_ms / T_MS + 2


def test_a_reserve_is_left_free_for_callers_without_one(limiter: Limiter) -> None:
    slow = Rate.parse("1/1m")  # a unit a minute: no unit comes back between the calls
    # campaigns ask with a reserve of 3: they stop 3 units short of the burst...
    waits = limiter.throughput("acct", slow, BURST, [1] * (BURST + 1), 3)
    assert waits[: BURST - 2] == [0] * (BURST - 2) and all(w > 0 for w in waits[BURST - 2 :])
    # ...which an OTP (no reserve) then takes at once, and no more
    waits = limiter.throughput("acct", slow, BURST, [1] * 4)
    assert waits[:3] == [0, 0, 0] and 60_000 - SLACK_MS < waits[3] <= 60_000


def test_a_reserve_costs_no_rate(limiter: Limiter) -> None:
    """With nobody else asking, a caller with a reserve still gets the whole rate:
    after the burst less the reserve, its units come one per emission interval."""
    # one call = one Redis TIME: the schedule is exact, no wall clock involved
    waits = limiter.throughput("acct", RATE, BURST, [1] * 30, 3)
    admitted = BURST + 1 - 3
    assert waits == [0] * admitted + [T_MS * k for k in range(1, 30 - admitted + 1)]


def test_buckets_are_separate_per_name(limiter: Limiter) -> None:
    assert limiter.throughput("a", RATE, 0, [1, 1]) == [0, T_MS]
    assert limiter.throughput("b", RATE, 0, [1, 1]) == [0, T_MS]


def test_tat_key_expires_when_the_bucket_is_full_again(
    limiter: Limiter, backend: redis.Redis
) -> None:
    limiter.throughput("acct", Rate.parse("1/1s"), BURST, [1] * 8)  # TAT = now + 8 s
    ttl = backend.pttl(keys.gcra("acct"))
    assert 8_000 - SLACK_MS / 2 < ttl <= 8_000
    assert backend.keys(f"{keys.ratelimit('')}*") == [keys.gcra("acct").encode()]


def test_nothing_refused_writes_nothing(limiter: Limiter, backend: redis.Redis) -> None:
    slow = Rate.parse("1/1m")
    limiter.throughput("acct", slow, 0, [1])
    before = backend.get(keys.gcra("acct"))
    assert limiter.throughput("acct", slow, 0, [1, 1])[0] > 0
    assert backend.get(keys.gcra("acct")) == before


def test_a_batch_of_1000_is_one_script_call(limiter: Limiter, script_calls: list[str]) -> None:
    limiter.throughput("warm-up", RATE, 0, [1])  # first use may load the script (NOSCRIPT)
    script_calls.clear()
    waits = limiter.throughput("acct", Rate.parse("200/1s"), 99, [1, 2, 3, 1] * 250)
    assert script_calls == ["EVALSHA"]
    assert len(waits) == 1000
    # 100 units at once: 14 cycles of 7 units (56 items) + one 1-unit item; a 2-unit one is refused
    assert waits[:57] == [0] * 57 and waits[57] > 0
    assert waits[57:] == sorted(waits[57:])


def test_empty_batches_and_bad_arguments(limiter: Limiter, script_calls: list[str]) -> None:
    assert limiter.throughput("acct", RATE, 0, []) == []
    assert script_calls == []
    with pytest.raises(ValueError):
        limiter.throughput("acct", RATE, -1, [1])
    with pytest.raises(ValueError):
        limiter.throughput("acct", RATE, 0, [1, 0])
    with pytest.raises(ValueError):
        limiter.throughput("acct", RATE, 2, [1], 3)  # a reserve beyond the burst
