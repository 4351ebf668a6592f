"""Campaign outboxes: outcome events written in the campaign's Redis Cluster slot, then
relayed into the one outcome stream.

On one Redis, `record.lua` adds each event to `sms:outcomes` in the same call that
changes the message's state.  On a Redis Cluster that call may touch only keys of
one slot: the campaign's.  With `StreamPolicy.outbox` it adds the event to the
campaign's outbox (`keys.outbox`) instead, and `relay` moves outbox entries, in
order, into `sms:outcomes` (`relay.lua`, which trims the stream the way record.lua
does), then deletes them from the outbox.  Consumers keep reading one stream.

A campaign that tracks links (dispatcher.links) has a second outbox, its link tag's:
click.lua writes there, in the tag's slot, and `relay` moves it the same way.

Delivery is at least once: a relay stopped between its XADDs and its XDEL adds
those entries again on its next run.  An entry keeps its fields, `ts` (when the
state changed) included; its stream id is the relay's time.

`relay` is the one wrapper of relay.lua.
"""

from __future__ import annotations

from typing import Any

import orjson

from core import keys, lua
from core.outcomes import StreamPolicy

RELAY_CHUNK = 1000


def relay(client: Any, campaign: str, policy: StreamPolicy) -> int:
    """Move the campaign's outboxes (its events', its links' clicks') into the outcome
    stream; returns the entries moved."""
    moved = _relay_box(client, keys.outbox(campaign), policy)
    if tag := client.hget(keys.campaign_meta(campaign), keys.LINK_TAG_FIELD):
        moved += _relay_box(client, keys.link_outbox(_text(tag)), policy)
    return moved


def _relay_box(client: Any, box: str, policy: StreamPolicy) -> int:
    moved = 0
    script = lua.script(client, "relay")
    while entries := client.xrange(box, count=RELAY_CHUNK):
        flat = [[x for pair in fields.items() for x in pair] for _, fields in entries]
        payload = orjson.dumps([[_text(x) for x in e] for e in flat])
        moved += int(script(keys=[keys.OUTCOMES], args=[policy.maxlen, payload]))
        client.xdel(box, *[entry_id for entry_id, _ in entries])
    return moved


def relay_all(client: Any, policy: StreamPolicy) -> int:
    """Relay every campaign's outbox (campaigns from `sms:campaigns`)."""
    campaigns = [_text(c) for c in client.sscan_iter(keys.CAMPAIGNS, count=1000)]
    return sum(relay(client, c, policy) for c in campaigns)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
