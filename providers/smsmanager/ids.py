"""How SmsManager knows our messages: the request's `customid` and the number.

The http-api's `customid` is one per request and digits only (1-10 of them), so it cannot
carry our messageIds.  Every request carries `custom_id(batch)` instead, and a message is
`provider_id(customid, number)` = `"{customid}:{number}"`: what the worker keeps
(`sms:pid:smsmanager:{id}` -> messageId, `Spec.own_ids`), what a receipt naming the
customid and the number is translated by, and the id the sandbox counts sends by.

The customid is the request number the worker gave the batch (`Profile.numbered_requests`:
a Redis counter, 1..2^31-1, at most 10 digits and safe for a 32-bit signed column), unique
until two billion requests later.  A hash of the bulkId would not do: 2^31 values shared
by 10,000 batches collide with odds of about 1 in 40, and two campaigns to the same
audience within the 7 days a mapping is kept would then swap each other's receipts.  A
batch the worker did not number (contract tests, a batch from before numbering) falls back
to that hash.
"""

from __future__ import annotations

import hashlib

from core.batch import REQUEST_NUMBER_KEY, Batch

CUSTOM_ID_MAX = 2**31 - 1


def custom_id(batch: Batch) -> str:
    """The customid of the batch's requests: the worker's request number, else 1..2^31-1
    from SHA-256 of its bulkId (never change this: messages in flight are known by it)."""
    if number := batch.meta.get(REQUEST_NUMBER_KEY):
        return str(number)
    digest = hashlib.sha256(batch.bulk_id.encode("utf-8")).digest()
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
