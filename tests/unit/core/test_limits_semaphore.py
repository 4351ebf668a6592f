"""Counting semaphore (semaphore.lua), on fakeredis and real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from core import keys
from core.limits import Limiter

SMSC_CONCURRENCY = 5  # SMSC.ru: at most 5 concurrent requests per account
TTL_MS = 30_000
DEAD_TTL_MS = 500  # the tests' calls never stall this long between two lines


def test_grants_five_and_refuses_the_sixth(limiter: Limiter) -> None:
    grants = [limiter.acquire("smsc", SMSC_CONCURRENCY, f"w{i}", TTL_MS) for i in range(6)]
    assert grants[:5] == [0] * 5
    assert TTL_MS - 10_000 < grants[5] <= TTL_MS  # hint: when the oldest slot expires


def test_release_frees_a_slot(limiter: Limiter) -> None:
    for i in range(5):
        limiter.acquire("smsc", 5, f"w{i}", TTL_MS)
    assert limiter.release("smsc", "w3") is True
    assert limiter.acquire("smsc", 5, "w5", TTL_MS) == 0
    assert limiter.acquire("smsc", 5, "w6", TTL_MS) > 0
    assert limiter.release("smsc", "never-had-one") is False


def test_a_holder_refreshes_its_own_slot_even_when_full(
    limiter: Limiter, backend: redis.Redis
) -> None:
    for i in range(5):
        limiter.acquire("smsc", 5, f"w{i}", TTL_MS)
    assert limiter.acquire("smsc", 5, "w0", 2 * TTL_MS) == 0
    assert backend.zcard(keys.semaphore("smsc")) == 5
    assert 2 * TTL_MS - 10_000 < backend.pttl(keys.semaphore("smsc")) <= 2 * TTL_MS


def test_an_expired_holder_frees_its_slot(limiter: Limiter) -> None:
    assert limiter.acquire("smsc", 5, "dead-worker", DEAD_TTL_MS) == 0
    for i in range(4):
        limiter.acquire("smsc", 5, f"w{i}", TTL_MS)
    wait = limiter.acquire("smsc", 5, "late", TTL_MS)
    assert 0 < wait <= DEAD_TTL_MS  # the dead worker's slot is the first to expire
    time.sleep(wait / 1000 + 0.05)
    assert limiter.acquire("smsc", 5, "late", TTL_MS) == 0
    assert limiter.acquire("smsc", 5, "later", TTL_MS) > 0
    assert limiter.release("smsc", "dead-worker") is False


def test_semaphores_are_separate_per_account(limiter: Limiter) -> None:
    assert limiter.acquire("a", 1, "w", TTL_MS) == 0
    assert limiter.acquire("b", 1, "w", TTL_MS) == 0
    assert limiter.acquire("a", 1, "x", TTL_MS) > 0


def test_the_key_goes_away_when_empty(limiter: Limiter, backend: redis.Redis) -> None:
    limiter.acquire("smsc", 5, "w", TTL_MS)
    limiter.release("smsc", "w")
    assert backend.exists(keys.semaphore("smsc")) == 0


def test_bad_arguments(limiter: Limiter, script_calls: list[str]) -> None:
    with pytest.raises(ValueError):
        limiter.acquire("smsc", 0, "w", TTL_MS)
    with pytest.raises(ValueError):
        limiter.acquire("smsc", 5, "w", 0)
    assert script_calls == []
