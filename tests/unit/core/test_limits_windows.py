"""Exact sliding logs (sliding_window.lua): anti-flooding and OTP, on fakeredis and real Redis."""

from __future__ import annotations

import time

import orjson
import pytest
import redis

from core import keys
from core.limits import Limit, Limiter, plan
from providers.ants import PROFILE as ANTS
from providers.ants.otp import DEFAULTS as ANTS_OTP

ANTS_FLOODING = (ANTS.flood_varied, ANTS.flood_identical)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
SLACK_MS = 10_000  # a noisy machine may take seconds between calls; never an hour
NUMBER = "66812345678"


def test_seventh_identical_message_within_an_hour_is_deferred(limiter: Limiter) -> None:
    first = limiter.flooding([(NUMBER, "Your code is 1234")], *ANTS_FLOODING)
    time.sleep(0.05)
    rest = [limiter.flooding([(NUMBER, "Your code is 1234")], *ANTS_FLOODING)[0] for _ in range(5)]
    assert first + rest == [0] * 6
    [wait] = limiter.flooding([(NUMBER, "Your code is 1234")], *ANTS_FLOODING)
    # until the FIRST one leaves the hour: it is at least 50 ms old
    assert HOUR_MS - SLACK_MS < wait <= HOUR_MS - 50


def test_twenty_first_varied_message_is_deferred(limiter: Limiter) -> None:
    waits = limiter.flooding([(NUMBER, f"message {i}") for i in range(22)], *ANTS_FLOODING)
    assert waits[:20] == [0] * 20
    assert all(HOUR_MS - SLACK_MS < w <= HOUR_MS for w in waits[20:])


def test_identical_and_varied_limits_combine(limiter: Limiter) -> None:
    items = [(NUMBER, "same")] * 8 + [(NUMBER, f"other {i}") for i in range(16)]
    waits = limiter.flooding(items, *ANTS_FLOODING)
    assert waits[:6] == [0] * 6 and all(w > 0 for w in waits[6:8])
    # the refused identical ones were not logged: 6 + 14 varied = 20, then full
    assert waits[8:22] == [0] * 14 and all(w > 0 for w in waits[22:])


def test_numbers_are_independent(limiter: Limiter) -> None:
    items = [(NUMBER, "same")] * 7 + [("66899999999", "same")] * 7
    waits = limiter.flooding(items, *ANTS_FLOODING)
    assert [w == 0 for w in waits] == ([True] * 6 + [False]) * 2


def flood_keys(backend: redis.Redis) -> list[bytes]:
    return sorted(backend.scan_iter(match=keys.flood_log("") + "*"))


def test_a_number_log_is_one_small_field_that_expires_after_two_windows(
    limiter: Limiter, backend: redis.Redis
) -> None:
    limiter.flooding([(NUMBER, "hello")], *ANTS_FLOODING, members=["c-1"])
    [key] = flood_keys(backend)
    [entry] = backend.hget(key, NUMBER).decode().split(",")
    assert len(entry) <= 20  # "{ms into the slot}.{text hash}.{member hash}"
    assert 2 * HOUR_MS - SLACK_MS < backend.pttl(key) <= 2 * HOUR_MS


def test_the_log_of_the_slot_before_still_counts(r: redis.Redis) -> None:
    """Entries written in the previous slot (slots are one window long) still fill the
    window: a third message at 2/1s, sent just after a slot boundary, waits."""
    limiter, limit = Limiter(r), Limit(2, 1_000)

    def now_ms() -> int:
        s, us = r.time()
        return int(s) * 1000 + int(us) // 1000

    for attempt in range(5):  # a loaded machine may miss the timing: try again
        number = f"6681234{attempt:04d}"
        while not 600 <= now_ms() % 1000 < 700:  # start late in a slot: the boundary is near
            time.sleep(0.01)
        start = now_ms()
        assert limiter.flooding([(number, "a"), (number, "b")], limit, None) == [0, 0]
        while now_ms() // 1000 == start // 1000:
            time.sleep(0.02)
        [wait] = limiter.flooding([(number, "c")], limit, None)
        if now_ms() - start < 900:  # both calls within the window, across a slot boundary
            assert 0 < wait <= 1_000
            return
    pytest.fail("no attempt crossed a slot boundary within the window")


def test_recently_messaged_numbers_cost_little(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 numbers messaged once, ~78 a hash (as 5 million numbers an hour are in the
    product's FLOOD_BUCKETS): under 45 bytes a number (a zset per number and limit took
    about 240)."""
    monkeypatch.setattr(plan, "FLOOD_BUCKETS", 128)
    limiter, n = Limiter(r), 10_000
    for start in range(0, n, 1000):
        items = [(f"6681{i:07d}", "hello") for i in range(start, start + 1000)]
        members = [f"camp-{i}" for i in range(start, start + 1000)]
        assert limiter.flooding(items, *ANTS_FLOODING, members=members) == [0] * 1000
    found = flood_keys(r)
    assert len(found) == 128
    assert all(r.object("encoding", k) == b"listpack" for k in found)
    used = sum(r.memory_usage(k, samples=0) or 0 for k in found)
    assert used / n < 45, used / n
    print(f"{used / n:.1f} bytes a number")


def test_custom_flooding_limits(limiter: Limiter) -> None:
    waits = limiter.flooding([(NUMBER, "x")] * 3, varied=Limit(2, 1_000), identical=Limit(5, 1_000))
    assert waits[:2] == [0, 0] and 0 < waits[2] <= 1_000


def test_otp_three_per_day_allows_the_third_and_defers_the_fourth(limiter: Limiter) -> None:
    per_phone, per_app = ANTS_OTP.send_per_phone, ANTS_OTP.send_per_app
    assert Limit.parse("3/1d") == per_phone
    sends = [limiter.otp_send_allowed("app1", NUMBER, per_phone, per_app) for _ in range(4)]
    assert sends[:3] == [0, 0, 0]
    assert DAY_MS - SLACK_MS < sends[3] <= DAY_MS
    # another phone of the same application is still fine
    assert limiter.otp_send_allowed("app1", "66800000000", per_phone, per_app) == 0


def test_otp_per_application_limit(limiter: Limiter) -> None:
    per_app = Limit.parse("2/1d")
    assert limiter.otp_send_allowed("app2", "1", ANTS_OTP.send_per_phone, per_app) == 0
    assert limiter.otp_send_allowed("app2", "2", ANTS_OTP.send_per_phone, per_app) == 0
    assert (
        limiter.otp_send_allowed("app2", "3", ANTS_OTP.send_per_phone, per_app) > DAY_MS - SLACK_MS
    )
    # a refused send is not counted for the phone either
    assert limiter.otp_send_allowed("app3", "3", ANTS_OTP.send_per_phone, per_app) == 0


def test_otp_per_application_default_holds_10000_entries(
    limiter: Limiter, backend: redis.Redis
) -> None:
    assert Limit.parse("10000/1d") == ANTS_OTP.send_per_app
    items = [[(keys.otp_send_app("big"), ANTS_OTP.send_per_app)]] * 10_001
    waits = limiter.windows(items)
    assert waits[:10_000] == [0] * 10_000 and waits[10_000] > DAY_MS - SLACK_MS
    assert backend.zcard(keys.otp_send_app("big")) == 10_000


def test_verify_limit_one_per_three_seconds_gives_the_retry_time(limiter: Limiter) -> None:
    assert limiter.otp_verify_allowed(NUMBER, Limit.parse("1/3s")) == 0
    wait = limiter.otp_verify_allowed(NUMBER, Limit.parse("1/3s"))
    assert 1_500 < wait <= 3_000
    assert limiter.otp_verify_allowed("pin-id-42", ANTS_OTP.verify_per_phone) == 0  # other subject


def test_a_window_opens_again_after_the_wait(limiter: Limiter) -> None:
    limit = Limit.parse("2/1s")
    item = [[(keys.ratelimit("test:short"), limit)]]
    assert limiter.windows(item * 3)[:2] == [0, 0]
    [wait] = limiter.windows(item)
    assert 0 < wait <= 1_000
    time.sleep(wait / 1000 + 0.05)
    assert limiter.windows(item) == [0]


def test_items_of_one_batch_sharing_a_key_see_each_other(limiter: Limiter) -> None:
    shared = keys.ratelimit("test:shared")
    items = [
        [(shared, Limit(2, 60_000))],
        [(shared, Limit(2, 60_000)), (keys.ratelimit("test:a"), Limit(9, 60_000))],
        [(keys.ratelimit("test:b"), Limit(9, 60_000)), (shared, Limit(2, 60_000))],
    ]
    waits = limiter.windows(items)
    assert waits[:2] == [0, 0] and 59_000 < waits[2] <= 60_000


def test_a_refused_item_is_logged_nowhere(limiter: Limiter, backend: redis.Redis) -> None:
    full, free = keys.ratelimit("test:full"), keys.ratelimit("test:free")
    limiter.windows([[(full, Limit(1, 60_000))]])
    [wait] = limiter.windows([[(free, Limit(5, 60_000)), (full, Limit(1, 60_000))]])
    assert wait > 0
    assert backend.zcard(free) == 0 and backend.zcard(full) == 1


def test_the_wait_is_the_longest_of_the_full_windows(limiter: Limiter) -> None:
    short, long = keys.ratelimit("test:s"), keys.ratelimit("test:l")
    both = [(short, Limit(1, 1_000)), (long, Limit(1, 60_000))]
    assert limiter.windows([both]) == [0]
    [wait] = limiter.windows([both])
    assert 59_000 < wait <= 60_000


def test_a_batch_of_1000_goes_in_chunks_that_decide_as_one_call(
    limiter: Limiter, script_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLOOD_CHUNK items a call (no call holds Redis long), the same waits as one call: each
    chunk holds every one of the 100 numbers once, so a number's 10 messages are decided
    across 10 calls, each seeing the entries the calls before it logged."""
    limiter.flooding([("0", "warm-up")], *ANTS_FLOODING)  # first use may load the script (NOSCRIPT)
    items = [(f"668{i % 100:08d}", f"text {i % 3}") for i in range(1000)]
    members = [f"c-{i}" for i in range(1000)]
    whole = []  # the reference: the same items in one call, counted for another provider
    with monkeypatch.context() as one_call:
        one_call.setattr(plan, "FLOOD_CHUNK", len(items))
        whole.append(limiter.flooding(items, *ANTS_FLOODING, members, provider="one"))
        whole.append(limiter.flooding(items, *ANTS_FLOODING, provider="one"))
    script_calls.clear()
    waits = limiter.flooding(items, *ANTS_FLOODING, members, provider="chunked")
    assert script_calls == ["EVALSHA"] * (1000 // plan.FLOOD_CHUNK)
    # each of 100 numbers gets 10 messages, texts 4/3/3: within 6 identical / 20 varied
    assert waits == whole[0] == [0] * 1000
    again = limiter.flooding(items, *ANTS_FLOODING, provider="chunked")  # new messages
    assert len(script_calls) == 2 * (1000 // plan.FLOOD_CHUNK)
    # the same again: the text sent 4 times per number reaches 8 > 6, so 2 per number wait
    assert sum(w > 0 for w in again) == 2 * 100
    assert [w > 0 for w in again] == [w > 0 for w in whole[1]]
    assert all(abs(a - b) < SLACK_MS for a, b in zip(again, whole[1], strict=True))
    # a run of the batch again (the same messageIds) passes on the slots it holds
    assert limiter.flooding(items, *ANTS_FLOODING, members, provider="chunked") == [0] * 1000


def test_the_batch_is_packed_with_each_key_once() -> None:
    shared, other = keys.ratelimit("test:shared"), keys.ratelimit("test:other")
    per_second = Limit(2, 1_000)
    call = plan.windows([[(shared, per_second)], [(other, Limit(3, 5)), (shared, per_second)]])
    assert call.script == "sliding_window"
    assert call.keys == [shared, other]  # declared, each once; items refer to them by index
    items, nonce = orjson.loads(call.args[0])
    assert items == [[[1, 2, 1_000]], [[2, 3, 5], [1, 2, 1_000]]]
    assert nonce != orjson.loads(plan.windows([[(shared, per_second)]]).args[0])[1]
    with pytest.raises(ValueError):
        plan.windows([[]])
