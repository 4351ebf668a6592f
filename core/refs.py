"""Where to ask a gateway about a message it took: its *ref*, kept for `reports poll`.

A gateway that names our messages by ids of its own (`Spec.own_ids`) is asked about
them by those ids: SMSC.ru by (id, phone), SmsManager by the request id its answer
gave.  When a worker records a destination as taken by such a gateway it keeps the
message's ref (`Result.poll_ref`, else `Result.provider_id`) beside the message's
ledger state, in the same bucket layout (core.ledger):

    keys.refs(campaign, bucket)   field -> "{provider}|{ref}"

The writes are plain idempotent HSETs (a redelivered batch writes the same value).  A
bucket lives `SMS_FINAL_TTL` from its last write, as long as a report can still come.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from core import keys, ledger


class Ref(NamedTuple):
    provider: str
    ref: str


def encode(provider: str, ref: str) -> str:
    return f"{provider}|{ref}"


def decode(raw: bytes | str | None) -> Ref | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    provider, sep, ref = text.partition("|")
    return Ref(provider, ref) if sep else None


def _grouped(campaign: str, message_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """The refs bucket of each message: bucket key -> [(messageId, field)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    for mid in message_ids:
        place = ledger.place(mid, campaign)
        out.setdefault(keys.refs(campaign, place.bucket), []).append((mid, place.field))
    return out


async def aput(client: Any, campaign: str, refs: Mapping[str, Ref], ttl: int) -> None:
    """Keep these messages' refs (messageId -> Ref)."""
    if not refs:
        return
    pipe = client.pipeline(transaction=False)
    for key, items in _grouped(campaign, refs).items():
        pipe.hset(key, mapping={field: encode(*refs[mid]) for mid, field in items})
        pipe.expire(key, ttl)
    await pipe.execute()


async def aget(client: Any, campaign: str, message_ids: Iterable[str]) -> dict[str, Ref]:
    """The refs kept for these messages (messageId -> Ref); a message without one is absent."""
    grouped = _grouped(campaign, message_ids)
    if not grouped:
        return {}
    pipe = client.pipeline(transaction=False)
    for key, items in grouped.items():
        pipe.hmget(key, [field for _, field in items])
    out: dict[str, Ref] = {}
    for items, values in zip(grouped.values(), await pipe.execute(), strict=True):
        for (mid, _), raw in zip(items, values, strict=True):
            if (ref := decode(raw)) is not None:
                out[mid] = ref
    return out
