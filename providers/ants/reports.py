"""ANTS delivery reports: the 2018 `results[]` format and the newer `details[]` callback.

Entry points:

* `parse_callback(body, content_type)`: what ANTS POSTs to our `notifyUrl`.
  Auto-detects the format: a `results` list is the 2018 format, a `details`
  list (JSON, or an XML `<CALLBACK>` document) is the newer "v1" format.  JSON
  or XML is decided by the body's first character (after any BOM), else by the
  Content-Type.
* `parse_reports_response(body, content_type)`: the answer of
  `GET /sms/1/reports` and `GET /sms/1/logs` (2018 format only).  An ANTS
  `requestError` answer raises ReportParseError with `code` set to its
  `messageId` (e.g. "BAD_REQUEST").

Both return a `Parsed`: the reports of the good records and a ReportParseError
per bad record (wrong type, unknown status, missing messageId...), with its
index and field path.  A body that cannot be used as a whole (malformed or
truncated JSON/XML, DTD/entities, not an object at the top, neither or both of
`results`/`details`, the list not a list, oversized) raises ReportParseError.

The XML mirror of the 2018 format, which the 2018 document never shows, is
taken as `<reportResponse><results><result>…</result></results></reportResponse>`
(the root element's name is not checked) with `status`, `error` and `price` as
nested elements, exactly mirroring the JSON.

Normalization of the newer format: `status.name` decides; `COMPLETED` (and the
document's misspelling `COMPLATED`) means "sent to the operator", so it is
*pending*, not final: a handset receipt may still follow.  When the name is
missing or unknown the three-digit `status.code` decides (see `_state_from_code`);
a lone `000` is read as DELIVERED, as in every example the document gives.
"""

from __future__ import annotations

from providers.ants.codes import ERROR_BY_ID, NEW_BY_CODE, STATUS_BY_ID
from providers.reports import (
    DeliveryReport,
    Parsed,
    Record,
    ReportParseError,
    as_bytes,
    guard,
    load_json,
    load_xml,
    looks_like_xml,
    snippet,
)

PROVIDER = "ants"

# 2018 status groups: groupId -> (groupName, normalized state, final)
GROUPS_2018: dict[int, tuple[str, str, bool]] = {
    0: ("ACCEPTED", "accepted", False),
    1: ("PENDING", "pending", False),
    2: ("UNDELIVERABLE", "undeliverable", True),
    3: ("DELIVERED", "delivered", True),
    4: ("EXPIRED", "expired", True),
    5: ("REJECTED", "rejected", True),
}
_GROUP_IDS_BY_NAME = {name: gid for gid, (name, _, _) in GROUPS_2018.items()}

# Newer API general status names -> (canonical group, normalized state, final)
NAMES_V1: dict[str, tuple[str, str, bool]] = {
    "ACCEPTED": ("ACCEPTED", "accepted", False),
    "PENDING": ("PENDING", "pending", False),
    "COMPLETED": ("COMPLETED", "pending", False),
    "COMPLATED": ("COMPLETED", "pending", False),  # spelled so in the status table
    "DELIVERED": ("DELIVERED", "delivered", True),
    "UNDELIVERED": ("UNDELIVERED", "undeliverable", True),
    "UNDELIVERABLE": ("UNDELIVERED", "undeliverable", True),
    "EXPIRED": ("EXPIRED", "expired", True),
    "REJECTED": ("REJECTED", "rejected", True),
}

# Three-digit codes the status table files under REJECTED although they are 2xx,
# and 412 which it files under UNDELIVERED although it is 4xx.
_REJECTED_2XX = frozenset(
    {200, 201, 202, 203, 212, 216, 217, 225, 239, 240, 241, 248, 249, 250, 256, 257, 258, 264}
)
_UNDELIVERED_4XX = frozenset({412})


def _group_of_code(code: str) -> str:
    """The general status a three-digit code belongs to, or '' when unknown."""
    if code == "000":
        return "DELIVERED"
    if not (len(code) == 3 and code.isdigit()):
        return ""
    number = int(code)
    if number in (101, 102):
        return "PENDING"
    if number in _REJECTED_2XX or (400 <= number <= 499 and number not in _UNDELIVERED_4XX):
        return "REJECTED"
    if 200 <= number <= 299 or number in _UNDELIVERED_4XX:
        return "UNDELIVERED"
    if 300 <= number <= 399:
        return "EXPIRED"
    return ""


# -- public entry points ----------------------------------------------------------------


@guard
def parse_callback(body: bytes | str, content_type: str = "") -> Parsed:
    """Parse a delivery-report callback (2018 `results` or newer `details`, JSON or XML)."""
    root = _load(body, content_type)
    has_results, has_details = root.has("results"), root.has("details")
    if has_results == has_details:
        which = "both" if has_results else "neither"
        raise ReportParseError(f"expected exactly one of 'results' or 'details', found {which}")
    return _parse_2018(root) if has_results else _parse_v1(root)


@guard
def parse_reports_response(body: bytes | str, content_type: str = "") -> Parsed:
    """Parse a `GET /sms/1/reports` or `GET /sms/1/logs` answer (2018 `results` format)."""
    root = _load(body, content_type)
    if root.has("requestError"):
        raise _request_error(root)
    return _parse_2018(root)


# -- loading ----------------------------------------------------------------------------


def _load(body: bytes | str, content_type: str) -> Record:
    raw = as_bytes(body)
    if looks_like_xml(raw, content_type):
        return Record(load_xml(raw, content_type), "")
    data = load_json(raw, content_type)
    if not isinstance(data, dict):
        raise ReportParseError(f"expected a JSON object at the top, got {type(data).__name__}")
    return Record(data, "")


def _request_error(root: Record) -> ReportParseError:
    error = root.need("requestError")
    service = error.child("serviceException") or error.child("policyException")
    code = service.text("messageId") if service else ""
    text = service.text("text") if service else ""
    return ReportParseError(f"gateway error answer {code or '?'}: {snippet(text)}", code=code)


# -- 2018 format ------------------------------------------------------------------------


def _parse_2018(root: Record) -> Parsed:
    return root.each("results", "result", _result_2018)


def _result_2018(item: Record) -> DeliveryReport:
    status = item.need("status")
    group_id = _group_id_2018(status)
    group, state, final = GROUPS_2018[group_id]
    status_id = status.integer("id")
    error = item.child("error")
    error_id = error.integer("id") if error else None
    return DeliveryReport(
        message_id=item.text("messageId", required=True),
        state=state,
        final=final,
        bulk_id=item.text("bulkId"),
        to=item.text("to"),
        status_code="" if status_id is None else str(status_id),
        status_name=status.text("name"),
        group=group,
        error_code="" if error_id is None else str(error_id),
        error_name=error.text("name") if error else "",
        permanent=error.boolean("permanent") if error else None,
        suppress=final and _suppress_2018(status_id, error_id, error),
        done_at=item.text("doneAt"),
        sent_at=item.text("sentAt"),
        sms_count=_sms_count(item),
        price=_price_2018(item),
        callback_data=item.text("callbackData"),
        provider=PROVIDER,
        format="2018",
    )


def _suppress_2018(status_id: int | None, error_id: int | None, error: Record | None) -> bool:
    """The status or error row says the number is bad or barred (and the error's own
    `permanent` flag, which beats any table, does not say it may pass later)."""
    status_row = STATUS_BY_ID.get(str(status_id))
    error_row = ERROR_BY_ID.get(str(error_id))
    flag = error.boolean("permanent") if error else None
    by_error = bool(error_row and error_row.suppress) and flag is not False
    return bool(status_row and status_row.suppress) or by_error


def _group_id_2018(status: Record) -> int:
    """The status groupId, or the group named by groupName when the id is absent."""
    group_id = status.integer("groupId")
    name = status.text("groupName").upper()
    if group_id is None:
        if name not in _GROUP_IDS_BY_NAME:
            raise status.error("groupId", "missing, and groupName is missing or unknown")
        return _GROUP_IDS_BY_NAME[name]
    if group_id not in GROUPS_2018:
        raise status.error("groupId", f"unknown status group {group_id}")
    if name and _GROUP_IDS_BY_NAME.get(name, group_id) != group_id:
        raise status.error("groupName", f"{snippet(name)} contradicts groupId {group_id}")
    return group_id


def _sms_count(item: Record) -> int | None:
    count = item.integer("smsCount")
    if count is not None and count < 0:
        raise item.error("smsCount", f"negative count {count}")
    return count


def _price_2018(item: Record) -> str:
    price = item.child("price")
    if price is None:
        return ""
    amount = price.decimal("pricePerMessage")
    currency = price.text("currency")
    return f"{amount} {currency}".strip() if amount else ""


# -- newer (v1) format ------------------------------------------------------------------


def _parse_v1(root: Record) -> Parsed:
    bulk_id = root.text("bulkId")
    return root.each("details", "detail", lambda item: _detail_v1(item, bulk_id))


def _detail_v1(item: Record, bulk_id: str) -> DeliveryReport:
    status = item.need("status")
    code, name = _code_v1(status), status.text("name").upper()
    group, state, final = _classify_v1(status, code, name)
    credit = item.decimal("credit")
    return DeliveryReport(
        message_id=item.text("messageId", required=True),
        state=state,
        final=final,
        bulk_id=bulk_id,
        to=item.text("to"),
        status_code=code,
        status_name=name,
        group=group,
        suppress=final and bool((row := NEW_BY_CODE.get(code)) and row.suppress),
        done_at=item.text("doneDate"),
        sent_at=item.text("sendDate"),
        price=f"{credit} CREDIT" if credit else "",
        callback_data=item.text("callbackData"),
        provider=PROVIDER,
        format="v1",
    )


def _code_v1(status: Record) -> str:
    """status.code as text; a JSON number is zero-padded back to three digits."""
    code = status.text("code")
    return code.zfill(3) if code.isdigit() and len(code) < 3 else code


def _classify_v1(status: Record, code: str, name: str) -> tuple[str, str, bool]:
    if name in NAMES_V1:
        return NAMES_V1[name]
    group = _group_of_code(code) or NAMES_V1.get(code.upper(), ("",))[0]
    if not group:
        if not code and not name:
            raise status.error("code", "missing, and so is name")
        raise status.error("code", f"unknown status {snippet(name or code)}")
    return NAMES_V1[group]
