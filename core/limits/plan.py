"""Argument packing and reply decoding for the limiter scripts (shared by sync and async).

Every function here is pure: it validates its input and returns a `ScriptCall`
(which script, KEYS, ARGV, how to decode the reply).  `Limiter` and
`AsyncLimiter` only differ in how they send it.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from core import keys
from core.limits.spec import Limit, Rate

T = TypeVar("T")

NONCE_CHARS = 12  # per call, in sliding-log members: unique across calls without a counter
TEXT_HASH_BYTES = 12  # 96-bit blake2b of the text: identical-text key suffix

Arg = str | int | float | bytes  # bytes: an orjson-packed argument
Windows = Sequence[tuple[str, Limit]]


@dataclass(frozen=True, slots=True)
class ScriptCall(Generic[T]):
    """One script invocation: `decode(reply)` is the limiter's answer; `empty` means no call."""

    script: str
    keys: list[str]
    args: list[Arg]
    decode: Callable[[Any], T]
    empty: bool = False


def _waits(reply: Any) -> list[int]:
    return [int(w) for w in reply]


def _first(reply: Any) -> int:
    return int(reply[0])


def _nothing(decode: Callable[[Any], T]) -> ScriptCall[T]:
    return ScriptCall("", [], [], decode, empty=True)


def throughput(
    name: str, rate: Limit, burst: int, costs: Sequence[int], reserve: int = 0
) -> ScriptCall[list[int]]:
    """GCRA over `keys.gcra(name)`: `rate.attempts` units per `rate.window_ms`, plus `burst`,
    of which this caller leaves `reserve` units free (see gcra.lua)."""
    if burst < 0:
        raise ValueError(f"burst must be >= 0, not {burst}")
    if not 0 <= reserve <= burst:
        raise ValueError(f"reserve must be between 0 and the burst ({burst}), not {reserve}")
    if any(cost < 1 for cost in costs):
        raise ValueError("every cost must be >= 1 (SMS parts)")
    if not costs:
        return _nothing(_waits)
    emission_us = Rate(rate.attempts, rate.window_ms).emission_us
    args: list[Arg] = [repr(emission_us), burst, reserve, *costs]
    return ScriptCall("gcra", [keys.gcra(name)], args, _waits)


def windows(
    items: Sequence[Windows], members: Sequence[str] | None = None
) -> ScriptCall[list[int]]:
    """Sliding logs: each item is allowed only if every (key, limit) of it has room.

    `members` (one per item, e.g. messageIds): an item whose member a window already
    holds passes that window without taking a second entry (see sliding_window.lua)."""
    if not items:
        return _nothing(_waits)
    if members is not None and len(members) != len(items):
        raise ValueError("one member per item")
    key_index: dict[str, int] = {}
    packed: list[list[tuple[int, int, int]]] = []
    for item in items:
        if not item:
            raise ValueError("every item needs at least one (key, limit)")
        packed.append(
            [
                (key_index.setdefault(key, len(key_index) + 1), limit.attempts, limit.window_ms)
                for key, limit in item
            ]
        )
    data: list[Any] = [packed, uuid.uuid4().hex[:NONCE_CHARS]]
    if members is not None:
        data.append(list(members))
    return ScriptCall("sliding_window", list(key_index), [orjson.dumps(data)], _waits)


def text_hash(text: str) -> str:
    """Stable short hash of a message text, for the identical-text key."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=TEXT_HASH_BYTES).hexdigest()


FLOOD_BUCKETS = 65_536  # hashes a slot of the flooding logs: 15 numbers each at 1M an hour,
# ~76 at 5M (a hash stays a listpack up to 128); fewer numbers pay more of a key each
FLOOD_TEXT_HASH_CHARS = 5  # hex: 20 bits; a collision can only defer, never let through
FLOOD_MEMBER_HASH_CHARS = 8  # hex: 32 bits of the messageId
# items per flooding.lua call: ~2 ms of Redis each (1,000 in one call held it ~17 ms, and
# every transactional message's round trips queued behind it); see `flooding_calls`
FLOOD_CHUNK = 100


def flooding(
    items: Sequence[tuple[str, str]],
    varied: Limit | None,
    identical: Limit | None,
    members: Sequence[str] | None = None,
    provider: str = "",
) -> ScriptCall[list[int]]:
    """Anti-flooding for (number, text) items; `members`: their messageIds (counted once).
    A limit that is None is not checked; with neither, every item is allowed.  One log per
    number and provider, in small hashes (flooding.lua)."""
    if (varied is None and identical is None) or not items:
        return _nothing(lambda _: [0] * len(items))
    if members is not None and len(members) != len(items):
        raise ValueError("one member per item")
    longest = max(limit.window_ms for limit in (varied, identical) if limit is not None)
    packed = [
        [
            zlib.crc32(number.encode()) % FLOOD_BUCKETS,
            number,
            text_hash(text)[:FLOOD_TEXT_HASH_CHARS],
            _member_hash(members[i] if members else ""),
        ]
        for i, (number, text) in enumerate(items)
    ]
    data = [longest, _limit(varied), _limit(identical), packed]
    return ScriptCall("flooding", [keys.flood_log(provider)], [orjson.dumps(data)], _waits)


def flooding_calls(
    items: Sequence[tuple[str, str]],
    varied: Limit | None,
    identical: Limit | None,
    members: Sequence[str] | None = None,
    provider: str = "",
) -> list[ScriptCall[list[int]]]:
    """`flooding` for any number of items, FLOOD_CHUNK to a call, in their order; the
    limiter runs them one after another and joins their waits.

    The same waits as one call: an item reads its number's log as the calls before it
    left it (each call writes its entries before it returns), so items to one number in
    two chunks see each other as items in one call do; each call reads Redis's clock
    when it runs, as a later batch would.  A run that stops between chunks keeps the
    slots its first chunks took, each held by its messageId (member), so the next run
    passes them without a second entry: the logs still err on the side of sending fewer."""
    if members is not None and len(members) != len(items):
        raise ValueError("one member per item")
    return [
        flooding(
            items[at : at + FLOOD_CHUNK],
            varied,
            identical,
            None if members is None else members[at : at + FLOOD_CHUNK],
            provider,
        )
        for at in range(0, len(items), FLOOD_CHUNK)
    ]


def _limit(limit: Limit | None) -> list[int] | bool:
    return [limit.attempts, limit.window_ms] if limit is not None else False


def _member_hash(member: str) -> str:
    if not member:
        return ""
    return f"{zlib.crc32(member.encode()):08x}"[:FLOOD_MEMBER_HASH_CHARS]


def otp_send(app: str, phone: str, per_phone: Limit, per_app: Limit) -> ScriptCall[int]:
    item = [(keys.otp_send_phone(app, phone), per_phone), (keys.otp_send_app(app), per_app)]
    return _single(windows([item]))


def otp_verify(subject: str, limit: Limit) -> ScriptCall[int]:
    return _single(windows([[(keys.otp_verify(subject), limit)]]))


def _single(call: ScriptCall[list[int]]) -> ScriptCall[int]:
    return ScriptCall(call.script, call.keys, call.args, _first)


def acquire(name: str, limit: int, holder: str, ttl_ms: int) -> ScriptCall[int]:
    if limit < 1 or ttl_ms < 1:
        raise ValueError(f"limit and ttl_ms must be >= 1, not {limit}, {ttl_ms}")
    return ScriptCall("semaphore", [keys.semaphore(name)], ["acquire", limit, holder, ttl_ms], int)


def release(name: str, holder: str) -> ScriptCall[bool]:
    return ScriptCall("semaphore", [keys.semaphore(name)], ["release", holder], bool)
