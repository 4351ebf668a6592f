"""Deterministic ids: the same campaign, batch and row always give the same ids.

`messageId` is the idempotency key end to end: every state write and every send
claim is keyed on it, and ANTS rejects a reused one (23 REJECTED_DUPLICATE_MESSAGE_ID).

    bulkId     {campaign}-b{batch}                 a campaign's batch
               {campaign}-t{hash of messageId}     a send_sms message (<= 100 characters)
    messageId  {campaign}-{csv line}               a campaign's recipient
               {campaign}~k{key}                   send_sms with the caller's key
               {campaign}~u{random}                send_sms without a key
               {original}-r{n}                     the n-th resend of a temporarily
                                                   undelivered message

Campaign ids never contain '~', so the campaign of any messageId can be read back
from it (`campaign_of`), even when a caller's key contains '-'.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from core.errors import InputError

MAX_BULK_ID = 100  # ANTS limit
MAX_MESSAGE_ID = 200  # ANTS limit
CAMPAIGN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,120}$")


def check_campaign(campaign: str) -> str:
    """A campaign id: 1-64 of letters, digits, '.', '_', '-' (so ids stay within limits)."""
    if not CAMPAIGN_RE.match(campaign):
        raise InputError(
            "campaign id must be 1-64 characters of letters, digits, '.', '_' or '-'",
            field="campaign",
        )
    return campaign


def bulk_id(campaign: str, seq: int) -> str:
    """`{campaign}-b{seq}`: one per request; a resend of the batch carries the same one."""
    return f"{campaign}-b{seq}"


def message_id(campaign: str, line: int) -> str:
    """`{campaign}-{line}`: the CSV line the recipient came from."""
    return f"{campaign}-{line}"


KEYED = "~"  # never in a campaign id: separates it from a caller's key
TRANSACTIONAL_HASH_CHARS = 20


def keyed_message_id(campaign: str, key: str | None) -> str:
    """For the Python API: `{campaign}~k{key}` from a caller's idempotency key, else random."""
    if key is None:
        return f"{campaign}{KEYED}u{uuid.uuid4().hex}"
    if not KEY_RE.match(key):
        raise InputError("idempotency key must be 1-120 of [A-Za-z0-9._:-]", field="key")
    return f"{campaign}{KEYED}k{key}"


def transactional_bulk_id(campaign: str, message_id_: str) -> str:
    """The bulkId of a one-message request: deterministic and within MAX_BULK_ID."""
    digest = hashlib.sha256(message_id_.encode()).hexdigest()[:TRANSACTIONAL_HASH_CHARS]
    return f"{campaign}-t{digest}"


RESEND_SUFFIX = re.compile(r"(?:-r\d+)+$")


def resend_id(message_id_: str) -> tuple[str, int]:
    """The resend of a message: `{original}-r{n}`, n counting from the first original."""
    original, n = original_of(message_id_)
    return f"{original}-r{n + 1}", n + 1


def original_of(message_id_: str) -> tuple[str, int]:
    """The first message of a resend chain and how many resends this id is past it."""
    match = RESEND_SUFFIX.search(message_id_)
    if not match:
        return message_id_, 0
    return message_id_[: match.start()], int(match.group().rsplit("-r", 1)[1])


_LINE = re.compile(r"-\d+$")


def campaign_of(message_id_: str) -> str:
    """The campaign a messageId belongs to (see the module docstring for the forms)."""
    original = original_of(message_id_)[0]
    if KEYED in original:
        return original.split(KEYED, 1)[0]
    return _LINE.sub("", original)
