"""Messages held `unknown`: the gateway may have taken them and cannot be asked.

A provider whose lookup cannot prove absence (`Profile.lookup_proves_absence` False:
SmsManager, whose request list shows only queued requests) gives the worker no way to
know whether a request that timed out was taken.  Rather than send such a message again
(a repeated customid is sent and billed again), the worker records it `unknown` (rank 2,
core.outcomes: never sent again by itself) and keeps here what an operator needs to
resend it:

    keys.campaign_unknown(campaign)   messageId -> {"batch": the batch to resend it with,
                                                    "reason": why, "at": epoch ms}

A later delivery report resolves the message (the rank rule); its entry here is then
stale and is dropped the next time the campaign's unknowns are read
(dispatcher.unknowns: list, resend, drop).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from core import keys
from core.batch import Batch, Destination
from core.outcomes import NONFINAL_TTL


def entries(batch: Batch, dests: Sequence[Destination], reason: str, at: int) -> dict[str, bytes]:
    """The hash fields that keep `dests` of `batch` for a deliberate resend."""
    return {
        d.message_id: orjson.dumps({"batch": batch.only([d]).to_dict(), "reason": reason, "at": at})
        for d in dests
    }


async def aput(client: Any, campaign: str, fields: dict[str, bytes]) -> None:
    """Keep these entries (plain idempotent writes: a redelivered batch writes the same)."""
    if not fields:
        return
    key = keys.campaign_unknown(campaign)
    pipe = client.pipeline(transaction=False)
    pipe.hset(key, mapping=fields)
    pipe.expire(key, NONFINAL_TTL)
    await pipe.execute()
