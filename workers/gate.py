"""The limits gate: which destinations of a batch may go to the gateway now.

`Gate(limiter, settings)` is the `gate` hook of `workers.sender.BatchSender`;
one instance serves one run of one batch.  A call decides the batch with at
most one limiter call per limit, whatever its size:

1. anti-flooding (`SMS_FLOOD_VARIED` / `SMS_FLOOD_IDENTICAL` per number): ONE
   sliding-log call for every (number, rendered text) (the limiter sends it to
   Redis in chunks of `core.limits.plan.FLOOD_CHUNK` items, which decide as one);
2. throughput (GCRA, cost = SMS parts of each text, or of each binary payload as
   `core.binary` counts them): ONE call per bucket, only
   for what flooding admitted; the sender's bucket (`SMS_SENDER_RATE`) first,
   then the account's (`SMS_RATE`) for what the sender's admitted.

Flooding comes first because its slots are taken on admission and last a whole
window (an hour), while a throughput slot lasts one emission interval.  A
flooding slot is held by the messageId: a destination admitted by flooding and
then refused by throughput, retried after a 5xx, deferred, or redelivered keeps
the one slot it took, however many runs decide it again (without that, six runs
of one batch would fill the identical-text window and block the number for an
hour).  A slot whose message is finally not sent stays taken until it leaves the
window, and a sender slot wasted when the account refuses is not given back:
both err on the side of sending fewer, never more.

Our flooding windows are `FLOOD_MARGIN_MS` longer than the gateway's: the time
between our decision and the gateway's arrival varies by request, and a
message we admit just as an old one leaves our window must not reach the
gateway before the old one leaves the gateway's window.

Transactional share (`SMS_TRANSACTIONAL_SHARE` = s): a priority within the one
account bucket, see `core.limits.buckets`.  Campaigns leave ceil(burst * s) units
of the burst free for the `transactional` queue and OTPs, which are capped at
rate * s; an idle share is lent to campaigns (they get the whole rate).

Waits answered for throughput are aligned on bursts: a refused destination is
told to come back when a whole burst is free (not when its single part is), so
a recheck admits a chunk of destinations in one request instead of one each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import NamedTuple

from config.settings import Settings
from core import binary
from core.batch import OPTIONS_KEY, Batch, Destination
from core.gsm_national import Language
from core.limits import AsyncLimiter, Limit
from core.limits.buckets import Bucket, account_buckets, sender_bucket
from core.options import SendOptions
from core.outcomes import Waiting
from core.sms import count_parts
from providers.registry import Profile

SHORT_WAIT_MS = 1_000  # a shorter wait is slept in the worker, a longer one deferred
PACE_BUDGET_MS = 30_000  # at most this long pacing one batch in the worker
FLOOD_MARGIN_MS = 2_000


class Held(NamedTuple):
    """A destination the gate holds back."""

    dest: Destination
    wait: int  # ms
    why: str
    code: Waiting  # why, as a reason code (status `waiting`)
    paced: bool = False  # a throughput wait: its place in line (only the head's wait matters)


@lru_cache(maxsize=4096)
def parts(text: str, language: Language | None = None) -> int:
    """Parts of a text (by a national language's tables when the batch names one)."""
    return count_parts(text, language)[1]


@lru_cache(maxsize=4096)
def binary_parts(payload: str, options: binary.Binary) -> int:
    """Parts of a binary payload; one for a payload the import would have refused (the
    gateway refuses it: the limits still count it)."""
    try:
        return binary.check(payload, options).parts
    except binary.BinaryError:
        return 1


def cost_of(batch: Batch) -> Callable[[str], int]:
    """What one message of the batch costs in the throughput buckets: its parts."""
    options = batch.binary
    if options is None:
        language = SendOptions.from_meta(batch.meta.get(OPTIONS_KEY)).language
        return parts if language is None else lambda text: parts(text, language)
    return lambda payload: binary_parts(payload, options)


def with_margin(limit: Limit | None) -> Limit | None:
    return None if limit is None else Limit(limit.attempts, limit.window_ms + FLOOD_MARGIN_MS)


def burst_aligned(waits: list[int], bucket: Bucket) -> list[int]:
    """Refused waits raised to the end of the first burst (see the module docstring)."""
    refused = [w for w in waits if w > 0]
    if not refused:
        return waits
    horizon = refused[0] + min(bucket.burst_ms, SHORT_WAIT_MS / 2)
    chunk_end = max(w for w in refused if w <= horizon)
    return [max(w, chunk_end) if w > 0 else 0 for w in waits]


def split_held(
    held: Sequence[Held], remaining_ms: int
) -> tuple[list[Destination], list[Held], int]:
    """(recheck after `sleep` ms, defer now, sleep): the head of the line decides.

    Throughput waits grow along a batch (each waits for the ones before it), so
    when the first held destination can go within SHORT_WAIT_MS the worker sleeps
    and rechecks every destination that can still go within its pacing budget;
    the rest, or everything when the head must wait longer, is deferred.
    """
    if not held:
        return [], [], 0
    head = min(h.wait for h in held)
    if head >= SHORT_WAIT_MS or head >= remaining_ms:
        return [], list(held), 0
    recheck = [h.dest for h in held if h.wait < remaining_ms]
    defer = [h for h in held if h.wait >= remaining_ms]
    return recheck, defer, head


class Gate:
    """Flooding then throughput for one batch run (see the module docstring)."""

    def __init__(
        self, limiter: AsyncLimiter, settings: Settings, profile: Profile, provider: str = ""
    ) -> None:
        """The limits of one provider's account: its buckets and flooding logs are its own."""
        self.limiter = limiter
        self.settings = settings
        self.provider = provider
        varied = settings.flood_varied or profile.flood_varied  # an override, or the gateway's
        identical = settings.flood_identical or profile.flood_identical
        self.varied = with_margin(varied)
        self.identical = with_margin(identical)
        self.flooding_on = settings.flood_enabled and (varied or identical) is not None
        self.why = f"anti-flooding: at most {varied} messages, {identical} identical, per number"
        self._flood_passed: set[str] = set()  # messageIds holding a flooding slot (this run)

    async def __call__(self, batch: Batch) -> tuple[list[Destination], list[Held]]:
        """(admitted now, held back with their waits in ms and why)."""
        passed, held = await self._flooding(batch)
        for bucket in self._buckets(batch):
            passed, refused = await self._throughput(batch, bucket, passed)
            held += refused
        return passed, held

    def _buckets(self, batch: Batch) -> list[Bucket]:
        s = self.settings
        account = account_buckets(s.rate, s.burst, s.transactional_share, batch.transactional)
        found = (sender_bucket(s.sender_rate, batch.sender), *account)
        return [
            replace(b, name=f"{self.provider}:{b.name}") if self.provider else b
            for b in found
            if b is not None
        ]

    async def _flooding(self, batch: Batch) -> tuple[list[Destination], list[Held]]:
        dests = list(batch.destinations)
        if not self.flooding_on:
            return dests, []
        fresh = [d for d in dests if d.message_id not in self._flood_passed]
        if not fresh:
            return dests, []
        items = [(d.to, batch.text_of(d)) for d in fresh]
        members = [d.message_id for d in fresh]
        waits = await self.limiter.flooding(
            items, self.varied, self.identical, members, self.provider
        )
        why = self.why
        held = [
            Held(d, w, why, Waiting.ANTI_FLOODING)
            for d, w in zip(fresh, waits, strict=True)
            if w > 0
        ]
        self._flood_passed.update(d.message_id for d, w in zip(fresh, waits, strict=True) if not w)
        return [d for d in dests if d.message_id in self._flood_passed], held

    async def _throughput(
        self, batch: Batch, bucket: Bucket, dests: list[Destination]
    ) -> tuple[list[Destination], list[Held]]:
        cost = cost_of(batch)
        costs = [cost(batch.text_of(d)) for d in dests]
        waits = await self.limiter.throughput(
            bucket.name, bucket.rate, bucket.burst, costs, bucket.reserve
        )
        waits = burst_aligned(waits, bucket)
        why = f"throughput: {bucket.rate} SMS parts ({bucket.name})"
        code = Waiting.RATE_LIMIT
        held = [
            Held(d, w, why, code, paced=True) for d, w in zip(dests, waits, strict=True) if w > 0
        ]
        return [d for d, w in zip(dests, waits, strict=True) if not w], held
