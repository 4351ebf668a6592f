"""dispatcher.dedupe: duplicate numbers across a campaign, in small bucketed hashes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis

from core import keys, lua
from dispatcher import dedupe
from dispatcher.dedupe import Dedupe

TTL = 3600


def test_bucket_count_follows_the_file_size() -> None:
    assert dedupe.bucket_count(0) == dedupe.UNKNOWN_SIZE_BUCKETS
    assert dedupe.bucket_count(100) == 1
    assert dedupe.bucket_count(12 * 64 * 1000) == 1024  # a power of two at least the need
    assert dedupe.bucket_count(10**12) == dedupe.MAX_BUCKETS


def test_owners_are_found_across_buckets_and_a_rerun_finds_itself(store: redis.Redis) -> None:
    d = Dedupe(store, "c", 12 * 64 * 8, TTL)
    assert d.buckets == 8
    numbers = [f"668100000{i:02d}" for i in range(40)]
    pairs = [(n, line) for line, n in enumerate(numbers, start=2)]
    assert d.owners(pairs) == {}
    assert d.owners(pairs) == {}  # the same lines again: a re-run
    again = [(numbers[5], 100), ("66999999999", 101), (numbers[39], 102)]
    assert d.owners(again) == {0: b"7", 2: b"41"}
    used = {d.key(n) for n in numbers}
    assert len(used) > 1 and all(0 < store.ttl(k) <= TTL for k in used)


def test_a_later_import_keeps_the_first_ones_bucket_count(store: redis.Redis) -> None:
    first = Dedupe(store, "c", 100, TTL)
    first.owners([("66810000001", 2)])
    later = Dedupe(store, "c", 10**9, TTL)  # a bigger file into the same campaign
    assert later.buckets == first.buckets == 1
    assert later.owners([("66810000001", 9)]) == {0: b"2"}


def test_a_bucket_of_a_plausible_file_stays_a_small_encoding(r: redis.Redis) -> None:
    """The memory promise: a 100,000-row file of bare numbers fills its buckets to ~64
    numbers, each a listpack of ~25 bytes a number."""
    rows = 100_000
    d = Dedupe(r, "big", rows * 12, TTL)
    numbers = [f"6681{i:07d}" for i in range(rows)]
    for start in range(0, rows, 5000):
        d.owners([(n, start + i + 2) for i, n in enumerate(numbers[start : start + 5000])])
    sizes = [r.hlen(keys.campaign_numbers("big", b)) for b in range(d.buckets)]
    assert max(sizes) <= 128 and sum(sizes) == rows
    assert r.object("encoding", keys.campaign_numbers("big", 0)) == b"listpack"
    used = sum(r.memory_usage(keys.campaign_numbers("big", b)) for b in range(d.buckets))
    assert used / rows < 32


def test_a_chunk_of_1000_rows_goes_in_calls_of_call_chunk_with_the_first_line_owning(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CALL_CHUNK pairs a call (none holds Redis long), each duplicate at its index in the
    whole list and owned by its first line, also when that line was in an earlier call."""
    sizes: list[int] = []
    real = lua.script

    def spying(client: Any, name: str, package: str = "core") -> Any:
        handle = real(client, name, package)

        def call(*, keys: Any, args: Any) -> Any:
            sizes.append(len(orjson.loads(args[1])))
            return handle(keys=keys, args=args)

        return call if name == "dedupe" else handle

    d = Dedupe(store, "c", 12 * 64 * 16, TTL)
    pairs = [(f"6681{i % 700:07d}", line) for line, i in enumerate(range(1000), start=2)]
    monkeypatch.setattr(lua, "script", spying)
    found = d.owners(pairs)
    assert sizes == [dedupe.CALL_CHUNK] * (1000 // dedupe.CALL_CHUNK)
    assert found == {i: str(i - 700 + 2).encode() for i in range(700, 1000)}
    assert d.owners(pairs) == found  # a re-run: the same owners, the same duplicates
