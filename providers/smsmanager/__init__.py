"""SmsManager (Czech): its HTTP and XML APIs, code tables and delivery receipts.

Sender `POST /Send` (one request per batch: the HTTP API's for a shared text, the XML
API's, a `<Request>` per text, for several), lookup `GET /RequestList` + `GET
/RequestStatus` (see `providers.smsmanager.sender`, whose docstring says what the
public documentation says and where).  Its facts (`PROFILE`):

* length: the http-api states no limit, only error 202 "text missing or too long"; the
  only figure SmsManager publishes is the JSON API v2's 1000 characters per message, so we
  hold texts to 1000 characters for sure: at most 1000 UTF-8 bytes (a character is at
  least one byte) and 7 parts (1000 GSM-7 characters take 7 parts of 153);
* validity: `expiration` takes any date; no cap is stated (0: none; the sender always
  gives the batch's own validity end);
* sender: at most 11 characters (set up in the web interface first, or 203);
* no concurrency cap and no anti-flooding limit are stated; SmsManager does not check
  reused ids (customid is free-form, not unique);
* batch: "unlimited recipients of one message": 1000 numbers per request keeps the form,
  the answer and a lookup's request status small;
* message options: none.  Its only send option is the gateway type (high, economy,
  lowcost, direct: a route and a price, not a kind of message); no flash SMS, no
  transliteration, no national language tables, no intermediate reports to ask for.

Its messages are known to it by (customid, number), our `Result.provider_id`
`"{customid}:{number}"` (`own_ids=True`).  Receipts come as a POST body (form, JSON or
XML) or as the query of a GET; an empty body means the query is the receipt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from providers.registry import Profile, Spec, register
from providers.reports import Parsed
from providers.smsmanager import codes
from providers.smsmanager.ids import CUSTOM_ID_MAX
from providers.smsmanager.reports import parse_receipt
from providers.smsmanager.sender import SmsManagerSender
from providers.smsmanager.status import SmsManagerStatusReader

MAX_TEXT_CHARS = 1000  # JSON API v2: body <= 1000 characters (the only stated figure)

PROFILE = Profile(
    max_parts=7,
    max_bytes=MAX_TEXT_CHARS,
    max_validity_minutes=0,
    sender_rule=re.compile(r"\S{1,11}"),
    concurrency=0,
    flood_varied=None,
    flood_identical=None,
    rejects_reused_ids=False,
    max_batch=1000,
    numbered_requests=CUSTOM_ID_MAX,
    lookup_proves_absence=False,
    binary=False,  # its APIs take a text (`message`, `<Message Type="Text">`), no payload
)


def parse_report(body: bytes | str, content_type: str, query: Mapping[str, str]) -> Parsed:
    return parse_receipt(query if not body and query else body, content_type)


def error_name(code: str) -> str:
    row = codes.row_of(code)
    return row.name if row else ""


SPEC = register(
    Spec(
        name="smsmanager",
        profile=PROFILE,
        sender=SmsManagerSender,
        parse_report=parse_report,
        error_name=error_name,
        configured=lambda s: bool(s.smsmanager_api_key),
        own_ids=True,
        status=SmsManagerStatusReader,
    )
)
