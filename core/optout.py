"""The opt-out list: numbers no campaign sends to, shared by every campaign.

One hash, number -> `added|expires|source|reason` (epoch seconds; expires 0: never),
and a sorted set of the entries that expire, so lapsed ones are dropped (a few on
every add) and never count.  Both keys share the `{optout}` hash tag: one Redis
Cluster slot.

Sources: `manual` (smsdispatch optout add, the API), `import` (optout import FILE),
`learned` (a gateway's permanent error that says the number is bad or blacklisted:
those expire after SMS_OPTOUT_LEARNED_DAYS, since numbers are reassigned).  A learned
entry never replaces one that does not expire.

The importer checks every row against it and the workers check every destination
again just before the send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core import keys, lua

MANUAL, IMPORT, LEARNED = "manual", "import", "learned"
PRUNE_PER_ADD = 100  # lapsed entries dropped by each add
ADD_CHUNK = 5_000  # numbers per script call
REASON_MAX = 200


@dataclass(frozen=True, slots=True)
class Entry:
    number: str
    added: int  # epoch seconds
    expires: int  # epoch seconds; 0: never
    source: str
    reason: str

    def pack(self) -> str:
        reason = self.reason.replace("\n", " ")[:REASON_MAX]
        return f"{self.added}|{self.expires}|{self.source}|{reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "added": self.added,
            "expires": self.expires,
            "source": self.source,
            "reason": self.reason,
        }


def unpack(number: str, raw: bytes | str) -> Entry:
    text = raw.decode() if isinstance(raw, bytes) else raw
    added, expires, source, reason = text.split("|", 3)
    return Entry(number, int(added), int(expires), source, reason)


def _live(number: str, raw: bytes | None, now: float) -> Entry | None:
    if raw is None:
        return None
    entry = unpack(number, raw)
    return entry if not entry.expires or entry.expires > now else None


def _args(entries: Sequence[Entry], now: int) -> list[Any]:
    args: list[Any] = [now, PRUNE_PER_ADD]
    for e in entries:
        args += [e.number, e.pack(), e.expires]
    return args


def _stamps(days: float) -> tuple[int, int]:
    """Now and the expiry `days` from now (0: never), epoch seconds."""
    at = int(time.time())
    return at, at + int(days * 86400) if days > 0 else 0


def entries_for(
    numbers: Iterable[str], source: str, reason: str, *, days: float = 0
) -> list[Entry]:
    """Entries for `numbers`; `days` > 0 makes them expire that long from now."""
    at, expires = _stamps(days)
    return [Entry(n, at, expires, source, reason) for n in numbers]


def learned(found: Iterable[tuple[str, str]], days: float) -> list[Entry]:
    """Entries for numbers a gateway's permanent error condemned: (number, why) pairs."""
    at, expires = _stamps(days)
    return [Entry(n, at, expires, LEARNED, why) for n, why in found if n]


def add(client: Any, entries: Sequence[Entry]) -> int:
    """Put `entries` on the list; returns how many numbers were not on it."""
    script, added, now = lua.script(client, "optout"), 0, int(time.time())
    for i in range(0, len(entries), ADD_CHUNK):
        chunk = entries[i : i + ADD_CHUNK]
        added += script(keys=[keys.OPTOUT, keys.OPTOUT_EXPIRY], args=_args(chunk, now))
    return added


async def aadd(client: Any, entries: Sequence[Entry]) -> int:
    """`add` with an asyncio client."""
    script, added, now = lua.script(client, "optout"), 0, int(time.time())
    for i in range(0, len(entries), ADD_CHUNK):
        chunk = entries[i : i + ADD_CHUNK]
        added += await script(keys=[keys.OPTOUT, keys.OPTOUT_EXPIRY], args=_args(chunk, now))
    return added


def remove(client: Any, numbers: Sequence[str]) -> int:
    """Take numbers off the list; returns how many were on it."""
    if not numbers:
        return 0
    pipe = client.pipeline(transaction=True)
    pipe.hdel(keys.OPTOUT, *numbers)
    pipe.zrem(keys.OPTOUT_EXPIRY, *numbers)
    return int(pipe.execute()[0])


def check(client: Any, numbers: Sequence[str]) -> list[Entry | None]:
    """Each number's live entry, or None when it may be sent to."""
    if not numbers:
        return []
    now = time.time()
    raws = client.hmget(keys.OPTOUT, list(numbers))
    return [_live(n, raw, now) for n, raw in zip(numbers, raws, strict=True)]


async def acheck(client: Any, numbers: Sequence[str]) -> list[Entry | None]:
    """`check` with an asyncio client."""
    if not numbers:
        return []
    now = time.time()
    raws = await client.hmget(keys.OPTOUT, list(numbers))
    return [_live(n, raw, now) for n, raw in zip(numbers, raws, strict=True)]


def listing(client: Any) -> Iterator[Entry]:
    """Every live entry (HSCAN: constant memory, in no particular order)."""
    now = time.time()
    for number, raw in client.hscan_iter(keys.OPTOUT, count=1000):
        n = number.decode() if isinstance(number, bytes) else number
        if (entry := _live(n, raw, now)) is not None:
            yield entry


def adopt_legacy(client: Any, days: float) -> int:
    """Move the numbers of the set kept before reasons were (`sms:suppressed`) onto the list
    as learned entries expiring in `days`; returns how many moved."""
    numbers = [m.decode() for m in client.smembers(keys.LEGACY_SUPPRESSED)]
    reason = "a permanent error, before reasons were kept"
    added = add(client, entries_for(numbers, LEARNED, reason, days=days))
    client.delete(keys.LEGACY_SUPPRESSED)
    return added
