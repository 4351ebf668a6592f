"""Export a campaign's messages to CSV, one row each, safe to open in a spreadsheet.

Rows: messageId, to, state, status, error, attempt, updated (ISO 8601 UTC), clicks
(on the message's tracked links, dispatcher.links; 0 without any), in CSV line order
(resends right after their original), through `SafeCsvWriter` (formula injection).

Enumeration walks the campaign's own index, never the keyspace:

* CSV lines: a campaign's messageIds are `{campaign}-{line}`, lines 1 to the meta's
  `last_line` (the highest line an import took); a line without a message (a
  rejected or duplicate row) is skipped.
* resends: `sms:c:{campaign}:resent` maps an original to its resend count;
* send_sms messages: the sorted set `sms:c:{campaign}:ids` (by enqueue time; entries
  older than SMS_FINAL_TTL are trimmed as new ones come).

Every chunk of READ_CHUNK ids is one round trip (an HMGET per ledger bucket), and rows
come out as they are read (`rows` is a generator), so memory stays flat however big the campaign.
Only messages whose state still exists are found (final ones live
SMS_FINAL_TTL, 7 days by default).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from core import ids, keys, ledger
from dispatcher import links
from dispatcher.csvout import SafeCsvWriter

HEADER = ("messageId", "to", "state", "status", "error", "attempt", "updated", "clicks")
FIRST_LINE = 1  # a file's line 1 is its header; rows given in code may start there
READ_CHUNK = 1000


def _text(v: bytes | str | None) -> str:
    return v.decode() if isinstance(v, bytes) else (v or "")


def _updated(ts: str) -> str:
    if not ts.isdigit():
        return ""
    return datetime.fromtimestamp(int(ts) / 1000, UTC).isoformat(timespec="seconds")


def last_line(client: Any, campaign: str) -> int:
    """The highest CSV line of the campaign (0: none)."""
    return int(client.hget(keys.campaign_meta(campaign), "last_line") or 0)


def message_ids(client: Any, campaign: str) -> Iterator[list[str]]:
    """The campaign's messageIds in export order, in chunks (some may have no state)."""
    last = last_line(client, campaign)
    for start in range(FIRST_LINE, last + 1, READ_CHUNK):
        originals = [
            ids.message_id(campaign, n) for n in range(start, min(start + READ_CHUNK, last + 1))
        ]
        resent = client.hmget(keys.campaign_resent(campaign), originals)
        yield [
            mid
            for o, n in zip(originals, resent, strict=True)
            for mid in (o, *(f"{o}-r{k}" for k in range(1, int(n or 0) + 1)))
        ]
    listed = keys.campaign_ids(campaign)
    for start in range(0, client.zcard(listed), READ_CHUNK):
        yield [_text(m) for m in client.zrange(listed, start, start + READ_CHUNK - 1)]


def rows(client: Any, campaign: str) -> Iterator[tuple[str, ...]]:
    """One row per message that still has a state, in export order."""
    tag = links.tag_of(client, campaign)
    for chunk in message_ids(client, campaign):
        states = ledger.read_many(client, chunk, campaign)
        clicks = links.clicks_of(client, tag, chunk)
        for mid, m, n in zip(chunk, states, clicks, strict=True):
            if m:
                yield (
                    mid,
                    m["to"],
                    m["state"],
                    m["status"],
                    m["error"],
                    m["attempt"],
                    _updated(m["ts"]),
                    str(n),
                )


def export(client: Any, campaign: str, fh: IO[str]) -> int:
    """Write the campaign's CSV to fh; returns the number of rows (without the header)."""
    writer = SafeCsvWriter(fh)
    writer.writerow(HEADER)
    n = 0
    for row in rows(client, campaign):
        writer.writerow(row)
        n += 1
    return n


def pieces(client: Any, campaign: str, size: int = 64 * 1024) -> Iterator[bytes]:
    """The CSV in pieces of about `size` bytes, as rows are read (for streaming)."""
    buf = io.StringIO()
    writer = SafeCsvWriter(buf)
    writer.writerow(HEADER)
    for row in rows(client, campaign):
        writer.writerow(row)
        if buf.tell() >= size:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
