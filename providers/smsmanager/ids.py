"""How SmsManager knows our messages: the batch's `customid` and the number.

The http-api's `customid` is one per request and digits only (1-10 of them), so it cannot
carry our messageIds.  Every request of a batch carries `custom_id(bulkId)` instead, and
a message is `provider_id(customid, number)` = `"{customid}:{number}"`: what the worker
keeps (`sms:pid:smsmanager:{id}` -> messageId, `Spec.own_ids`), what a receipt naming the
customid and the number is translated by, and the id the sandbox counts sends by.

`custom_id` is 1..2^31-1 (at most 10 digits, safe for a 32-bit signed column) from
SHA-256: two batches share one with odds 1 in 2^31-1 per pair (for a million batches,
about 1 in 4,300 that any two do), and a wrong translation needs that AND the same
number in both.  Never change the derivation: messages in flight are known by it.
"""

from __future__ import annotations

import hashlib

CUSTOM_ID_MAX = 2**31 - 1


def custom_id(bulk_id: str) -> str:
    """The batch's customid: 1..2^31-1 from SHA-256 of its bulkId (never change this)."""
    digest = hashlib.sha256(bulk_id.encode("utf-8")).digest()
    return str(int.from_bytes(digest[:8], "big") % CUSTOM_ID_MAX + 1)


def normalise_number(raw: str) -> str:
    """A number as the gateway lists it: digits only, without "+" or "00"; 9 digits are
    Czech (420 in front), as the gateway reads them."""
    text = raw.strip().lstrip("+")
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("00"):
        digits = digits[2:]
    if len(digits) == 9:
        digits = "420" + digits
    return digits


def provider_id(cid: str, number: str) -> str:
    """A message's id at SmsManager: `"{customid}:{number}"`."""
    return f"{cid}:{normalise_number(number)}"
