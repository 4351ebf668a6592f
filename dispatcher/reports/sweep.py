"""Expiry sweep: a message still open some grace after its validity ends is marked EXPIRED.

The gateway stops trying at the end of the validity period it was given, and
should then report EXPIRED; when that report never comes, the message would
stay accepted or pending forever and its campaign would never finish.

The index is `sms:c:{campaign}:open` (zset: ledger bucket -> the latest validity
end, epoch ms, of its accepted or pending messages), kept by `record.lua` in the
same call that records the worker's `accepted`; a bucket leaves it when all its
messages are final.  So the sweep reads only buckets that are overdue
(ZRANGEBYSCORE up to now - grace, listed once per run), BUCKETS_PER_CALL at a time
(each HGETALL with the bucket's score, in one transaction: see `open_ids`), and records
EXPIRED for their accepted and pending messages, one `record` call per chunk.  A bucket
that still holds a queued or retrying message stays listed (with its old score) until
that one ends too.
Campaigns are enumerated from `sms:campaigns` (one ZCOUNT each, pipelined).  The
recorded EXPIRED goes through the rank rule, so a final report that arrives in
between wins and the sweep's write is a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from core import keys, ledger
from core.outcomes import Event, State, StreamPolicy, record

REASON = "no final report by validity end + grace"
BUCKETS_PER_CALL = 16  # ~1,000 messages


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def overdue_campaigns(client: Any, cutoff_ms: int) -> list[str]:
    """Campaigns with at least one open message whose validity ended before the cutoff."""
    campaigns = sorted(_text(c) for c in client.sscan_iter(keys.CAMPAIGNS, count=1000))
    pipe = client.pipeline(transaction=False)
    for c in campaigns:
        pipe.zcount(keys.campaign_open(c), "-inf", cutoff_ms)
    return [c for c, n in zip(campaigns, pipe.execute(), strict=True) if n]


def sweep(
    client: Any,
    policy: StreamPolicy,
    grace_s: int,
    campaigns: Iterable[str] | None = None,
    now_ms: int | None = None,
) -> int:
    """Mark overdue open messages EXPIRED; returns how many changed."""
    cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - grace_s * 1000
    todo = list(campaigns) if campaigns is not None else overdue_campaigns(client, cutoff)
    return sum(_sweep_campaign(client, policy, c, cutoff) for c in todo)


def _sweep_campaign(client: Any, policy: StreamPolicy, campaign: str, cutoff: int) -> int:
    due = [_text(b) for b in client.zrangebyscore(keys.campaign_open(campaign), "-inf", cutoff)]
    changed = 0
    for i in range(0, len(due), BUCKETS_PER_CALL):
        mids = open_ids(client, campaign, due[i : i + BUCKETS_PER_CALL], cutoff)
        events = [Event(m, campaign, State.EXPIRED, reason=REASON, inferred=True) for m in mids]
        changed += record(client, events, policy)
    return changed


def open_ids(client: Any, campaign: str, buckets: list[str], cutoff: int) -> list[str]:
    """The accepted and pending messages of these ledger buckets that are still overdue:
    each bucket read together with its index score, in one transaction (the campaign's
    keys: one cluster slot), so a message accepted since the bucket was listed (which
    raised its score) is never expired with it.  A bucket whose hash is gone (its TTL
    ran out) leaves the index."""
    index = keys.campaign_open(campaign)
    pipe = client.pipeline(transaction=True)
    for key in buckets:
        pipe.hgetall(key)
        pipe.zscore(index, key)
    replies = pipe.execute()
    out: list[str] = []
    for key, raw, score in zip(buckets, replies[::2], replies[1::2], strict=True):
        if not raw:
            client.zrem(index, key)
        elif score is not None and score <= cutoff:
            out.extend(ledger.open_ids(campaign, key, raw))
    return out
