"""Campaign-wide duplicate numbers, re-runnable: the first CSV line that used a number owns it.

The owners live in hashes of a campaign's numbers (`keys.campaign_numbers`), each
number in bucket `crc32(number) % buckets`.  The bucket count is fixed by the first
import of the campaign (meta field `number_buckets`) from the size of its file,
about BUCKET_NUMBERS numbers to a bucket at the shortest plausible row
(MIN_ROW_BYTES): a small hash (listpack) keeps a number and its line in ~25 bytes,
where one big hash spends ~48.  Later imports of the campaign use the same count, so
they find the same owners.

`Dedupe.owners` is the one wrapper of dedupe.lua, CALL_CHUNK pairs to a call (1,000 in
one held Redis ~10 ms, while workers and transactional messages waited).  A number's
check is one HSETNX, atomic by itself; the calls run in the pairs' order, so the first
line still owns a number its chunk shares with a later one, and an import that stops
between calls is re-run like one that stopped between chunks of rows: its lines find
themselves.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from core import keys, lua

BUCKET_NUMBERS = 64  # numbers a bucket holds at most rows; a listpack keeps up to 128
MIN_ROW_BYTES = 12  # the shortest plausible CSV row: a number and a line end
MAX_BUCKETS = 1 << 20
UNKNOWN_SIZE_BUCKETS = 1024  # a source whose size is not known up front
META_FIELD = "number_buckets"
CALL_CHUNK = 250  # pairs per dedupe.lua call: ~2 ms of Redis each


def bucket_count(size_bytes: int) -> int:
    """Buckets for a source of `size_bytes` (0: unknown): a power of two."""
    if size_bytes <= 0:
        return UNKNOWN_SIZE_BUCKETS
    want = size_bytes // MIN_ROW_BYTES // BUCKET_NUMBERS
    n = 1
    while n < want and n < MAX_BUCKETS:
        n <<= 1
    return n


class Dedupe:
    """The duplicate check of one campaign (its bucket count settled on creation)."""

    def __init__(self, client: Any, campaign: str, size_bytes: int, ttl: int) -> None:
        self.client = client
        self.campaign = campaign
        self.ttl = ttl
        meta = keys.campaign_meta(campaign)
        pipe = client.pipeline()
        pipe.hsetnx(meta, META_FIELD, bucket_count(size_bytes))
        pipe.hget(meta, META_FIELD)
        self.buckets = int(pipe.execute()[1])

    def key(self, number: str) -> str:
        bucket = zlib.crc32(number.encode()) % self.buckets
        return keys.campaign_numbers(self.campaign, bucket)

    def owners(self, pairs: list[tuple[str, int]]) -> dict[int, bytes]:
        """Index in `pairs` ((number, line)) -> the line owning its number, for the
        duplicates only (a line re-run finds itself: not a duplicate)."""
        script = lua.script(self.client, "dedupe", "dispatcher")
        found: dict[int, bytes] = {}
        for at in range(0, len(pairs), CALL_CHUNK):
            declared = lua.Declared()
            chunk = pairs[at : at + CALL_CHUNK]
            items = [(number, line, declared.at(self.key(number))) for number, line in chunk]
            flat = script(keys=declared.keys, args=[self.ttl, orjson.dumps(items)])
            found |= {at + int(flat[j]) - 1: flat[j + 1] for j in range(0, len(flat), 2)}
        return found
