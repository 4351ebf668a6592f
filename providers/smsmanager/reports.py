"""SmsManager (smsmanager.cz) delivery receipts ("doručenky") as DeliveryReports (a `Parsed`).

The return-codes document gives the receipt states 0-8 and which are final,
but not the shape of a receipt on the wire.  `parse_receipt` therefore accepts
the shapes such a receipt can reasonably arrive in, all carrying the same
flat fields:

* a mapping (the query or form parameters the web layer already parsed);
* an `application/x-www-form-urlencoded` body or query string;
* JSON: one object, or an array of objects;
* XML: one element, or a root whose child elements are receipts, the fields
  given as attributes or as child elements (`<Receipt ID="1" Status="2"/>`).

Field names are matched case-insensitively, with these aliases (first wins):
message id `id`, `messageid`, `message_id`, `customid`, `requestid`;
recipient `number`, `phone`, `to`; state `status`, `state`, `deliverystatus`;
time `date`, `deliverydate`, `time`, `timestamp`.  A state outside 0-8 is an
error: the table is closed.

A receipt that names the request's `customid` and the number is about the message the
sender registered as `"{customid}:{number}"` (see `providers.smsmanager.ids`): that is
its message id, which report intake translates to our messageId (`own_ids`).

A JSON array or an XML root of receipts is a list: a bad receipt in it is
rejected on its own (`Parsed.rejected`, with its index) and the others are
reported.  A single receipt (mapping, form, JSON object, one XML element) that
is bad raises ReportParseError, as does a body that cannot be read at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element

from providers.reports import (
    DeliveryReport,
    Parsed,
    Record,
    ReportParseError,
    as_bytes,
    collect,
    decode_body,
    guard,
    load_json,
    load_xml,
    local_name,
    looks_like_xml,
    sniff_encoding,
    snippet,
)
from providers.smsmanager import codes
from providers.smsmanager.ids import provider_id

PROVIDER = "smsmanager"

# receipt state -> (name, normalized state, final): the one table lives in codes.py
RECEIPT_STATES: dict[int, tuple[str, str, bool]] = {
    code: (row.name.upper(), row.state, row.final) for code, row in codes.RECEIPT_STATES.items()
}

_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "messageid", "message_id", "customid", "requestid"),
    "to": ("number", "phone", "to"),
    "state": ("status", "state", "deliverystatus"),
    "done_at": ("date", "deliverydate", "time", "timestamp"),
}


@guard
def parse_receipt(body: bytes | str | Mapping[str, str], content_type: str = "") -> Parsed:
    """Parse one or more SmsManager delivery receipts (see the module doc for the shapes)."""
    if isinstance(body, Mapping):
        return Parsed([_receipt(_flat_mapping(body, ""), "", None)])
    raw = as_bytes(body)
    if looks_like_xml(raw, content_type):
        return _from_xml(load_xml(raw, content_type))
    if _looks_like_json(raw, content_type):
        return _from_json(load_json(raw, content_type))
    return Parsed([_receipt(_from_form(decode_body(raw, content_type)), "", None)])


def _looks_like_json(raw: bytes, content_type: str) -> bool:
    sniffed = sniff_encoding(raw)
    head = raw[:64].decode(sniffed, "ignore") if sniffed else raw[:64].decode("latin-1")
    return head.lstrip("\ufeff \t\r\n")[:1] in {"{", "["} or "json" in content_type.lower()


# -- shapes -------------------------------------------------------------------------------


def _from_form(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text.strip().lstrip("?"), strict_parsing=True, max_num_fields=100)
    except ValueError as exc:
        raise ReportParseError(f"malformed form body: {snippet(str(exc))}") from None
    return _flat_mapping(dict(pairs), "")


def _flat_mapping(data: Mapping[Any, object], where: str) -> dict[str, str]:
    """Lower-cased keys (any key not a string is refused); every value must be a string or
    an integer."""
    fields: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ReportParseError("keys must be strings", field=where or "receipt")
        if isinstance(value, bool) or not isinstance(value, str | int):
            kind = type(value).__name__
            field = f"{where}.{key}" if where else key
            raise ReportParseError(f"expected a string or integer, got {kind}", field=field)
        fields.setdefault(key.lower(), str(value).strip())
    return fields


def _from_json(data: object) -> Parsed:
    if isinstance(data, dict):
        return Parsed([_receipt(_flat_mapping(data, ""), "", None)])
    if not isinstance(data, list):
        raise ReportParseError(f"expected an object or an array, got {type(data).__name__}")

    def one(i: int, item: Any) -> DeliveryReport:
        record = Record(item, f"[{i}]", i)  # raises for a non-object item
        return _receipt(_flat_mapping(item, record.path), record.path, i)

    return collect(data, one, "")


def _element_fields(element: Element, where: str) -> dict[str, str]:
    fields = {k.lower(): v.strip() for k, v in element.attrib.items()}
    for child in element:
        if len(child):
            raise ReportParseError("expected text, got nested elements", field=where)
        fields.setdefault(local_name(child.tag).lower(), (child.text or "").strip())
    return fields


def _from_xml(root: Element) -> Parsed:
    own = _element_fields_shallow(root)
    if any(alias in own for alias in _ALIASES["state"]):
        return Parsed([_receipt(_element_fields(root, local_name(root.tag)), "", None)])
    if not len(root):
        raise ReportParseError("no receipt in the XML document")
    base = local_name(root.tag)

    def one(i: int, child: Element) -> DeliveryReport:
        where = f"{base}[{i}]"
        return _receipt(_element_fields(child, where), where, i)

    return collect(list(root), one, base)


def _element_fields_shallow(element: Element) -> set[str]:
    names = {k.lower() for k in element.attrib}
    names.update(local_name(c.tag).lower() for c in element if not len(c))
    return names


# -- one receipt --------------------------------------------------------------------------


def _pick(fields: dict[str, str], name: str) -> str:
    for alias in _ALIASES[name]:
        if fields.get(alias):
            return fields[alias]
    return ""


def _receipt(fields: dict[str, str], where: str, index: int | None) -> DeliveryReport:
    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    message_id = _pick(fields, "id")
    if fields.get("customid") and _pick(fields, "to"):
        message_id = provider_id(fields["customid"], _pick(fields, "to"))
    if not message_id:
        raise ReportParseError("missing message id", field=field("id"), index=index)
    state_text = _pick(fields, "state")
    if not re.fullmatch(r"\d{1,3}", state_text):
        reason = "missing" if not state_text else f"expected 0-8, got {snippet(state_text)}"
        raise ReportParseError(reason, field=field("status"), index=index)
    code = int(state_text)
    if code not in RECEIPT_STATES:
        raise ReportParseError(f"unknown receipt state {code}", field=field("status"), index=index)
    name, state, final = RECEIPT_STATES[code]
    return DeliveryReport(
        message_id=message_id,
        state=state,
        final=final,
        to=_pick(fields, "to"),
        status_code=str(code),
        status_name=name,
        group=name,
        suppress=code in codes.SUPPRESS_RECEIPT_STATES,
        done_at=_pick(fields, "done_at"),
        provider=PROVIDER,
        format="smsmanager",
    )
