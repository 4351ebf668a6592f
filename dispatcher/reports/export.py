"""Export a campaign's messages to CSV, one row each, safe to open in a spreadsheet.

Rows: messageId, to, state, status, error, attempt, updated (ISO 8601 UTC), in
CSV line order (resends right after their original), through `SafeCsvWriter`
(formula injection).

Enumeration is a SCAN of `sms:m:{campaign}-*`: it walks the *whole* keyspace
(O(all keys), in steps of SCAN_COUNT, without blocking Redis), and only finds
messages whose state hash still exists (final ones live SMS_FINAL_TTL, 7 days by
default).  The ids are sorted in memory (about 100 bytes each), then read with
pipelined HMGETs.  Export soon after a campaign ends, or raise SMS_FINAL_TTL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import IO, Any

from core import ids, keys
from dispatcher.csvout import SafeCsvWriter

HEADER = ("messageId", "to", "state", "status", "error", "attempt", "updated")
FIELDS = ("to", "state", "status", "error", "attempt", "ts")
SCAN_COUNT = 1000
READ_CHUNK = 1000
_LINE = re.compile(r"-(\d+)$")


def _text(v: bytes | str | None) -> str:
    return v.decode() if isinstance(v, bytes) else (v or "")


def message_ids(client: Any, campaign: str) -> list[str]:
    """Every messageId of the campaign that still has a state hash, in line order."""
    prefix = keys.message("")
    found = []
    for raw in client.scan_iter(match=keys.message(f"{campaign}-*"), count=SCAN_COUNT):
        mid = _text(raw)[len(prefix) :]
        if ":" not in mid and ids.campaign_of(mid) == campaign:  # not a marker, not "{c}-x-1"
            found.append(mid)
    return sorted(found, key=_order)


def _order(mid: str) -> tuple[int, str, int]:
    original, n = ids.original_of(mid)
    line = _LINE.search(original)
    return (int(line.group(1)) if line else -1, original, n)


def _updated(ts: str) -> str:
    if not ts.isdigit():
        return ""
    return datetime.fromtimestamp(int(ts) / 1000, UTC).isoformat(timespec="seconds")


def export(client: Any, campaign: str, fh: IO[str]) -> int:
    """Write the campaign's CSV to fh; returns the number of rows (without the header)."""
    writer = SafeCsvWriter(fh)
    writer.writerow(HEADER)
    mids = message_ids(client, campaign)
    for i in range(0, len(mids), READ_CHUNK):
        chunk = mids[i : i + READ_CHUNK]
        pipe = client.pipeline(transaction=False)
        for mid in chunk:
            pipe.hmget(keys.message(mid), *FIELDS)
        for mid, values in zip(chunk, pipe.execute(), strict=True):
            to, state, status, error, attempt, ts = (_text(v) for v in values)
            writer.writerow((mid, to, state, status, error, attempt, _updated(ts)))
    return len(mids)
