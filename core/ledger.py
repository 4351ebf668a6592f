"""The ledger: every message's latest state, packed small, many messages to a hash.

A message's state is one field of a per-campaign hash (a *bucket*), never a key of
its own: a key costs Redis ~100 bytes of bookkeeping, a field of a small hash
(a listpack: at most 128 fields of at most 64 bytes) about its own length.  Where a
message lives follows from its messageId and campaign alone (core.ids):

    messageId                    bucket              field
    {campaign}-{line}            {line // BUCKET}    {line % BUCKET}
    {campaign}-{line}-r{n}...    {line // BUCKET}    {line % BUCKET}-r{n}...  (resends
                                                     beside their original)
    anything else                h{crc32 % HASHED}   the id after the campaign ("!" and
                                                     all of it when it does not start
                                                     with it)

    keys.ledger(campaign, bucket)   field -> the packed state (below)
    keys.claims(campaign, bucket)   field -> "{run token}:{ms}[:{stage}][+{settle ms}]|{via}",
                                    a send claim while it is held (workers.claims):
                                    in-flight only

The packed state is `FIELDS` joined by '|' ('|' in a value is stored as '/'), the
state as its letter in `CODES`:

    state|rank|status|error|attempt|provider|updated (epoch ms, base 36)|to|ekey
    u|5|5|27|1|ants|mi5kq3x1|66810000005|          (~45 bytes, under a listpack's 64)

`ekey` is the counter field the state is counted under besides its state: for an
inferred final (rank 4), its error-counter field, so a gateway report that replaces it can
take it back; for a deferred or retrying one, its waiting reason (core.outcomes.Waiting),
taken back when it leaves (record.lua).  The Lua side of
this format is `ledger.lua`, included by every script that reads or writes a state;
`decode` is the Python side (tests/unit/test_ledger.py holds them to each other).

A bucket counts its live states (not final: rank below 4) in its field '#': while it
holds one it lives the live TTL, and once all are final, SMS_FINAL_TTL from its last
write, as each state would alone.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, NamedTuple

from core import ids, keys

BUCKET = 64  # CSV lines to a bucket: ~45 bytes a state keeps it a listpack (< 128 fields)
HASHED = 65_536  # buckets for ids with no line (send_sms): ~15 a bucket at a million
FIELDS = ("state", "rank", "status", "error", "attempt", "provider", "ts", "to", "ekey")
CODES = {  # every core.outcomes.State (a test holds them, and ledger.lua's copy, equal)
    "queued": "q",
    "deferred": "f",
    "retrying": "r",
    "paused": "p",
    "accepted": "a",
    "pending": "n",
    "delivered": "d",
    "undeliverable": "u",
    "expired": "e",
    "rejected": "j",
    "failed": "x",
    "dead": "z",
    "suppressed": "s",
    "canceled": "c",
    "unknown": "k",
}
_STATES = {code: name for name, code in CODES.items()}
LIVE_COUNT = "#"  # the field counting a bucket's live states (ledger.lua)
FOREIGN = "!"  # a field holding a whole id that does not start with its campaign
OPEN_STATES = frozenset({"accepted", "pending"})  # waiting for a report (not `unknown`)
_LINE_TAIL = re.compile(r"^-(0|[1-9][0-9]*)((?:-r[1-9][0-9]*)*)$")


class Place(NamedTuple):
    """Where one message's state (and its send claim) lives (a tuple: made per message,
    twice a send, so it is cheap to build)."""

    campaign: str
    bucket: str
    field: str

    @property
    def key(self) -> str:
        return keys.ledger(self.campaign, self.bucket)

    @property
    def claim_key(self) -> str:
        return keys.claims(self.campaign, self.bucket)


def place(message_id: str, campaign: str | None = None) -> Place:
    """Where `message_id` of `campaign` (by default the one its id names) lives."""
    campaign = ids.campaign_of(message_id) if campaign is None else campaign
    n = len(campaign)
    digits = message_id[n + 1 :] if message_id[n : n + 1] == "-" else ""
    if digits.isascii() and digits.isdigit() and (digits[0] != "0" or len(digits) == 1):
        line = int(digits)  # the common case: a CSV line
        return Place(campaign, str(line // BUCKET), str(line % BUCKET))
    if not message_id.startswith(campaign):
        tail = f"{FOREIGN}{message_id}"
    elif m := _LINE_TAIL.match(tail := message_id[len(campaign) :]):
        line = int(m.group(1))
        return Place(campaign, str(line // BUCKET), f"{line % BUCKET}{m.group(2)}")
    return Place(campaign, f"h{zlib.crc32(tail.encode()) % HASHED}", tail)


def message_id(campaign: str, bucket: str, field: str) -> str:
    """The messageId whose state is `field` of `bucket` (the inverse of `place`)."""
    if field.startswith(FOREIGN):
        return field[len(FOREIGN) :]
    if bucket.startswith("h"):
        return f"{campaign}{field}"
    line, sep, resend = field.partition("-")
    return f"{campaign}-{int(bucket) * BUCKET + int(line)}{sep}{resend}"


def bucket_of(key: str) -> str:
    """The bucket a ledger key names (keys.ledger's last part)."""
    return key.rsplit(":", 1)[1]


def open_ids(campaign: str, key: str, raw: dict[Any, Any]) -> list[str]:
    """The messageIds of a bucket's states (HGETALL) that are accepted or pending: waiting
    for a report (the sweep's and the poller's work)."""
    bucket, out = bucket_of(key), []
    for field, value in raw.items():
        if _text(field) == LIVE_COUNT:
            continue
        m = decode(value)
        if m and m["state"] in OPEN_STATES:
            out.append(message_id(campaign, bucket, _text(field)))
    return out


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def decode(raw: bytes | str | None) -> dict[str, str] | None:
    """A packed state as a dict of `FIELDS` (ts in epoch ms, as text); None if absent."""
    if raw is None:
        return None
    out = dict(zip(FIELDS, _text(raw).split("|"), strict=False))
    out["state"] = _STATES.get(out["state"], out["state"])
    if out.get("ts"):
        out["ts"] = str(int(out["ts"], 36))
    return {f: out.get(f, "") for f in FIELDS}


def read(client: Any, message_id: str, campaign: str | None = None) -> dict[str, str] | None:
    """One message's state with a sync client (None: unknown, or expired)."""
    p = place(message_id, campaign)
    return decode(client.hget(p.key, p.field))


async def aread(client: Any, message_id: str, campaign: str | None = None) -> dict[str, str] | None:
    """One message's state with an asyncio client."""
    p = place(message_id, campaign)
    return decode(await client.hget(p.key, p.field))


def state(client: Any, message_id: str, campaign: str | None = None) -> str:
    """One message's state name ('' if none), sync."""
    return (read(client, message_id, campaign) or {}).get("state", "")


def read_many(
    client: Any, message_ids: list[str], campaign: str | None = None
) -> list[dict[str, str] | None]:
    """Many messages' states (None where none), sync, in one round trip: one HMGET per
    bucket (messages of one batch or CSV stretch share a few)."""
    places = [place(mid, campaign) for mid in message_ids]
    fields: dict[str, list[str]] = {}
    for p in places:
        fields.setdefault(p.key, []).append(p.field)
    pipe = client.pipeline(transaction=False)
    for key, names in fields.items():
        pipe.hmget(key, names)
    found = {
        (key, f): raw
        for (key, names), values in zip(fields.items(), pipe.execute(), strict=True)
        for f, raw in zip(names, values, strict=True)
    }
    return [decode(found[(p.key, p.field)]) for p in places]


def states(client: Any, message_ids: list[str], campaign: str | None = None) -> list[str]:
    """Many messages' state names ('' where none), sync, in one round trip."""
    return [(m or {}).get("state", "") for m in read_many(client, message_ids, campaign)]


def claim_of(raw: bytes | str | None) -> tuple[str, str] | None:
    """A stored claim as ("{token}:{ms}[:{stage}][+{settle}]", via) (via '' when it names
    none); claims written before they carried a stage or a settle time read the same."""
    if raw is None:
        return None
    claim, _, via = _text(raw).partition("|")
    return claim, via
