"""Deterministic ids: the same campaign, batch and row always give the same ids.

`messageId` is the idempotency key end to end: the gateway rejects a reused
one (23 REJECTED_DUPLICATE_MESSAGE_ID), and every state write is keyed on it.
"""

from __future__ import annotations

import re
import uuid

from dispatcher.errors import InputError

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


def keyed_message_id(campaign: str, key: str | None) -> str:
    """For the Python API: `{campaign}-k{key}` from a caller's idempotency key, else random."""
    if key is None:
        return f"{campaign}-u{uuid.uuid4().hex}"
    if not KEY_RE.match(key):
        raise InputError("idempotency key must be 1-120 of [A-Za-z0-9._:-]", field="key")
    return f"{campaign}-k{key}"


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


def campaign_of(message_id_: str) -> str:
    """The campaign a messageId belongs to (before the last '-', resend suffixes aside)."""
    return original_of(message_id_)[0].rsplit("-", 1)[0]
