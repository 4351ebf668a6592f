"""Expiry sweep: a message still open some grace after its validity ends is marked EXPIRED.

The gateway stops trying at the end of the validity period it was given, and
should then report EXPIRED; when that report never comes, the message would
stay accepted or pending forever and its campaign would never finish.

The index is `sms:c:{campaign}:open` (zset: messageId -> validity end, epoch
ms), kept by `record.lua` in the same call that records the worker's
`accepted` and removed by any final state, so the sweep reads only messages
that are overdue: ZRANGEBYSCORE up to now - grace, 1,000 at a time, each chunk
one `record` call.  Campaigns are enumerated from `sms:campaigns` (one ZCOUNT
each, pipelined).  The recorded EXPIRED goes through the rank rule, so a final
report that arrives in between wins and the sweep's write is a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from core import keys
from core.outcomes import Event, State, StreamPolicy, record

REASON = "no final report by validity end + grace"
CHUNK = 1000


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
    key, changed = keys.campaign_open(campaign), 0
    while mids := [_text(m) for m in client.zrangebyscore(key, "-inf", cutoff, 0, CHUNK)]:
        events = [Event(m, campaign, State.EXPIRED, reason=REASON, inferred=True) for m in mids]
        changed += record(client, events, policy)
        client.zrem(key, *mids)  # record.lua did it already; this guards against a loop
    return changed
