"""SMSC.ru: its HTTP API (send.php, status.php), code tables and status answers.

Sender `POST /sys/send.php`, lookup `POST /sys/status.php` (see `providers.smsc.sender`
for what the public API documentation says and where it was read).  Its facts
(`PROFILE`): a text of at most 1,000 characters (stated here as 1,000 UTF-8 bytes, the
tightest bound a Profile can state: see `MAX_TEXT_BYTES`), validity 1 to 24 hours, sender
ids of 11 characters or 15 digits, fewer than five concurrent requests per login (five
or more: error 9), no anti-flooding limits documented, reused ids not refused; flash SMS
(`flash=1`) and transliteration of Cyrillic into Latin letters (`translit=1`: our
CYRILLIC), no national language tables and no intermediate reports to ask for.  SMSC names a
message by (request id, number), not by our messageId: `own_ids=True`, and
`Result.provider_id` is `{id}:{number}` (`sender.provider_key`).

Status bodies posted to the webhook say their format in the query (`?fmt=0..3`,
JSON by default).  A report names a message by `id` and `phone`: `parse_report` gives it
the `message_id` `{id}:{phone}` (`report_key`), the key report intake translates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from providers.registry import Profile, Spec, register
from providers.reports import DeliveryReport, Parsed, ReportParseError
from providers.smsc import codes
from providers.smsc.reports import parse_status
from providers.smsc.sender import (
    MAX_TEXT_CHARS,
    MAX_VALIDITY_MINUTES,
    TRANSLIT_CYRILLIC,
    SmscSender,
    provider_key,
    smsc_id,
)
from providers.smsc.status import MASS_STATUS, SmscStatusReader, mass_status

DEFAULT_FMT = 3  # JSON
# `mes` is at most 1,000 characters; a Profile states bytes and parts, so: 1,000 UTF-8
# bytes (never more than 1,000 characters; stricter for non-Latin texts), and 15 parts
# (1,000 UCS-2 characters).  A Profile.max_chars would state it exactly.
MAX_TEXT_BYTES = MAX_TEXT_CHARS
MAX_PARTS = 15
CONCURRENCY = 4  # the seed: "five or more requests simultaneously ... under the same
# username" get error 9, so at most four at once (sends and status requests alike)
MAX_BATCH = 1000  # numbers per request (and per status request: one mass request a minute)

PROFILE = Profile(
    max_parts=MAX_PARTS,
    max_bytes=MAX_TEXT_BYTES,
    max_validity_minutes=MAX_VALIDITY_MINUTES,
    sender_rule=re.compile(r"\d{1,15}|[!-~][ -~]{0,10}"),
    concurrency=CONCURRENCY,
    flood_varied=None,
    flood_identical=None,
    rejects_reused_ids=False,
    # not sent as binary here: SMSC's own client libraries (smsc_api for PHP, Python, C#,
    # Java) name `bin=1` (raw) and `bin=2` (hex) formats of `mes`, but no page at hand says
    # which data coding such a payload goes with, nor whether it must begin with a user data
    # header (no ESM class is taken), and its sandbox has no binary: refused, never guessed
    binary=False,
    max_batch=MAX_BATCH,
    status_rate=MASS_STATUS,  # a lookup is a status.php request too: shared with the poller
    flash=True,
    transliterations=frozenset({TRANSLIT_CYRILLIC}),
)


def parse_report(body: bytes | str, content_type: str, query: Mapping[str, str]) -> Parsed:
    """A status body posted to the webhook; each report's `message_id` is the SMSC message
    it is about, `{id}:{phone}` (`report_key`): report intake translates it to our
    messageId (`own_ids`).  A record without a phone keeps its bare id, which names no
    message of ours (a request id is shared by all its numbers)."""
    fmt = query.get("fmt", str(DEFAULT_FMT))
    if not fmt.isdigit():
        raise ReportParseError(f"fmt must be 0-3, got {fmt[:10]!r}")
    parsed = parse_status(body, int(fmt), 0)
    named = [replace(r, message_id=report_key(r)) if r.to else r for r in parsed.reports]
    return Parsed(named, parsed.rejected)


def error_name(code: str) -> str:
    row = (
        codes.ERRORS.get(code)
        or codes.REQUEST_ERRORS.get(code)
        or codes.SEND_ERRORS.get(code)
        or codes.REFUSED.get(code)
    )
    return row.name if row else ""


def report_key(report: DeliveryReport) -> str:
    """The `provider_id` a report of SMSC is about (its `id` and `phone`)."""
    return provider_key(report.message_id, report.to)


SPEC = register(
    Spec(
        name="smsc",
        profile=PROFILE,
        sender=SmscSender,
        parse_report=parse_report,
        error_name=error_name,
        configured=lambda s: bool(s.smsc_login and s.smsc_password),
        own_ids=True,
        status=SmscStatusReader,
        status_rate=mass_status,
    )
)

__all__ = ["PROFILE", "SPEC", "error_name", "parse_report", "provider_key", "report_key", "smsc_id"]
