"""SMSC.ru status answers (`/sys/status.php`) as DeliveryReports (a `Parsed`).

`parse_status(text, fmt, all_, message_id, phone)` reads the answer in each
answer format: `fmt` 0 (text `Status = 1, check_time = …`), 1 (comma-separated
fields), 2 (XML: `<sms>`, or `<list>` of them) and 3 (JSON: an object, or an
array of them), with `all` 0, 1 or 2, for one message or for several.

An *error answer* (`ERROR = N (…)`, `0,-N`, `<result><error_code>N…`,
`{"error_code": N}`) raises ReportParseError with `.code` = "N" (1 parameters,
2 credentials / IP, 4 IP blocked, 5 delete error, 9 too many requests).

A multiple answer (see below) is a list of records: a bad line, `<sms>` or
array item is rejected on its own (`Parsed.rejected`, with its index) and the
others are reported.  A single answer is one record: if it is bad, it raises.

Assumptions (the seed document names the `<status>` list without giving it):

* Status numbers follow SMSC.ru's public list: -3 not found, -1 waiting to be
  sent, 0 handed to the operator, 1 delivered, 2 read, 3 expired, 4 link
  clicked, 20 impossible to deliver, 22 invalid number, 23 prohibited,
  24 insufficient funds, 25 unavailable number.  -3 (not found or archived)
  is reported as final *rejected* with status_name NOT_FOUND; any other number
  is kept as a non-final *pending* state with its code, never guessed final.
* A multiple request is one whose `message_id` contains a comma (SMSC's own
  rule: "specify a comma after the id to keep the multiple format"), or an
  answer with several lines, a `<list>` or a JSON array.  In that case each
  status carries its own id (and, with all=0, phone).  In fmt=1 their position
  is not documented; they are taken as *appended* after the single-status
  fields: `…,<id>,<phone>` for all=0, `…,<id>` for all=1/2.
* fmt=1 is positional and the message text may contain commas, so only the
  status, time stamp and err (and phone for an SMS with all>=1) are read from
  it; use fmt=3 when the full record matters.
* Bytes are read as UTF-8, else in `charset` (SMSC's default is windows-1251).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

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
    plain_decimal,
    snippet,
)
from providers.smsc import codes

PROVIDER = "smsc"

# status -> (name, normalized state, final): the one table lives in codes.py
STATUSES: dict[int, tuple[str, str, bool]] = {
    code: (row.name.upper(), row.state, row.final) for code, row in codes.STATUSES.items()
}
UNKNOWN = ("UNKNOWN", "pending", False)

ERRORS: dict[str, str] = {
    "1": "error in parameters",
    "2": "invalid login or password, or IP address not allowed",
    "4": "IP address temporarily blocked",
    "5": "error deleting a message",
    "9": "too many status requests or concurrent requests",
}

# fmt=0 keys, so that `, key = ` can be told from a comma inside a value
_KEYS = (
    "status|check_time|last_date|last_timestamp|flag|err|send_date|send_timestamp|phone|"
    "mccmnc|country|operator_orig|operator|region|cost|sender_id|status_name|message|"
    "comment|type|sms_cnt|id|imsi|msc|mcc|mnc|cn|net|rcn|rnet"
)
_KEY_RE = re.compile(rf"(?:^|,)\s*({_KEYS})\s*=\s*", re.IGNORECASE)
_ERROR_TEXT_RE = re.compile(
    r"\s*ERROR\s*=\s*(-?\d+)\s*(?:\((.*)\))?\s*$", re.IGNORECASE | re.DOTALL
)
_ERROR_CSV_RE = re.compile(r"\s*0\s*,\s*-(\d+)\s*$")


@guard
def parse_status(
    text: str | bytes,
    fmt: int,
    all_: int = 0,
    message_id: str = "",
    phone: str = "",
    *,
    charset: str = "windows-1251",
) -> Parsed:
    """Parse an SMSC.ru status answer; raise ReportParseError (with .code) on an error answer."""
    if fmt not in (0, 1, 2, 3) or all_ not in (0, 1, 2):
        raise ReportParseError(f"unsupported fmt={snippet(fmt)} / all={snippet(all_)}")
    raw = as_bytes(text)
    if fmt == 2:
        return _parse_xml(raw, charset, message_id, phone)
    if fmt == 3:
        return _parse_json(raw, charset, message_id, phone)
    lines = [ln for ln in decode_body(raw, f"charset={charset}").splitlines() if ln.strip()]
    multi = "," in message_id or len(lines) > 1
    if fmt == 0:
        _raise_text_error(lines)
        return _records(lines, lambda i, ln: _line_fmt0(ln, i, message_id, phone), multi, "line")
    _raise_csv_error(lines)
    return _records(lines, lambda i, ln: _line_fmt1(ln, i, all_, message_id, phone), multi, "line")


def _records(
    raws: list[Any], build: Callable[[int | None, Any], DeliveryReport], multi: bool, path: str
) -> Parsed:
    """A multiple answer record by record (bad ones rejected); a single one raises if bad."""
    if multi:
        return collect(raws, build, path)
    return Parsed([build(None, raw) for raw in raws])


# -- building a report ------------------------------------------------------------------


def _report(fields: dict[str, str], where: str, index: int | None) -> DeliveryReport:
    """A DeliveryReport from SMSC field names (already strings)."""
    status_text = fields.get("status", "")
    if not re.fullmatch(r"-?\d{1,6}", status_text):
        field = f"{where}.status" if where else "status"
        reason = (
            "missing" if not status_text else f"expected an integer, got {snippet(status_text)}"
        )
        raise ReportParseError(reason, field=field, index=index)
    status = int(status_text)
    name, state, final = STATUSES.get(status, UNKNOWN)
    count = fields.get("sms_cnt", "")
    return DeliveryReport(
        message_id=fields.get("id", ""),
        state=state,
        final=final,
        to=fields.get("phone", ""),
        status_code=str(status),
        status_name=fields.get("status_name", "") or name,
        group=name,
        error_code=fields.get("err", ""),
        suppress=final and _suppress(status, fields.get("err", "")),
        done_at=fields.get("last_date", "") or fields.get("last_timestamp", ""),
        sent_at=fields.get("send_date", "") or fields.get("send_timestamp", ""),
        sms_count=int(count) if count.isdigit() else None,
        price=_cost(fields.get("cost", ""), where, index),
        provider=PROVIDER,
        format="smsc",
    )


def _suppress(status: int, err: str) -> bool:
    """The status or its error code says the number is bad or barred."""
    row = codes.ERRORS.get(err)
    return status in codes.SUPPRESS_STATUSES or bool(row and row.suppress)


def _cost(text: str, where: str, index: int | None) -> str:
    try:
        return plain_decimal(text)
    except ValueError:
        field = f"{where}.cost" if where else "cost"
        raise ReportParseError(
            f"expected a number, got {snippet(text)}", field=field, index=index
        ) from None


def _finish(
    fields: dict[str, str], where: str, index: int | None, message_id: str, phone: str
) -> DeliveryReport:
    """Check the id of a multiple answer, or fill id and phone from the request (single)."""
    if index is not None:
        if not fields.get("id"):
            field = f"{where}.id" if where else "id"
            raise ReportParseError("missing in a multiple-status answer", field=field, index=index)
    else:
        if not fields.get("id") and "," not in message_id:
            fields["id"] = message_id.strip()
        if not fields.get("phone") and "," not in phone:
            fields["phone"] = phone.strip()
    return _report(fields, where, index)


def _fail(code: str, description: str = "") -> ReportParseError:
    text = description.strip() or ERRORS.get(code, "unknown error")
    return ReportParseError(f"SMSC error {code}: {snippet(text)}", code=code)


# -- fmt=0: "Status = 1, check_time = …, err = 0" ---------------------------------------


def _raise_text_error(lines: list[str]) -> None:
    """An `ERROR = N (…)` line makes the whole answer an error answer."""
    for line in lines:
        error = _ERROR_TEXT_RE.match(line)
        if error:
            raise _fail(error.group(1).lstrip("-"), error.group(2) or "")


def _line_fmt0(line: str, index: int | None, message_id: str, phone: str) -> DeliveryReport:
    matches = list(_KEY_RE.finditer(line))
    if not matches or matches[0].start() != 0:
        where = f"line[{index}]" if index is not None else "line"
        raise ReportParseError("expected 'Status = …'", field=where, index=index)
    fields: dict[str, str] = {}
    for match, nxt in zip(matches, [*matches[1:], None], strict=True):
        end = nxt.start() if nxt else len(line)
        fields[match.group(1).lower()] = line[match.end() : end].strip()
    if "check_time" in fields:
        fields.setdefault("last_date", fields["check_time"])
    where = f"line[{index}]" if index is not None else ""
    return _finish(fields, where, index, message_id, phone)


# -- fmt=1: "1,1286524541,0" --------------------------------------------------------------


def _raise_csv_error(lines: list[str]) -> None:
    if len(lines) == 1:
        error = _ERROR_CSV_RE.match(lines[0])
        if error:
            raise _fail(error.group(1))


def _line_fmt1(
    line: str, index: int | None, all_: int, message_id: str, phone: str
) -> DeliveryReport:
    parts = [p.strip() for p in line.split(",")]
    where = f"line[{index}]" if index is not None else ""
    if len(parts) < 3:
        reason = f"expected at least 3 comma-separated fields, got {len(parts)}"
        raise ReportParseError(reason, field=where or "line", index=index)
    fields = {"status": parts[0], "last_timestamp": parts[1], "err": parts[2]}
    tail = 0
    if index is not None:  # multiple answer: id (and phone when all=0) appended
        tail = 2 if all_ == 0 else 1
        if len(parts) < 3 + tail:
            raise ReportParseError("missing the appended id/phone", field=where, index=index)
        fields["id"] = parts[-tail]
        if all_ == 0:
            fields["phone"] = parts[-1]
    if all_ >= 1:
        body = parts[: len(parts) - tail]
        phone_at = 12 if body[-1] == "4" else 4  # HLR answers (type 4) put 8 HLR fields first
        if len(body) > phone_at:
            fields["send_timestamp"], fields["phone"] = body[phone_at - 1], body[phone_at]
    if fields["last_timestamp"] in {"", "0"}:
        del fields["last_timestamp"]
    return _finish(fields, where, index, message_id, phone)


# -- fmt=2: XML ---------------------------------------------------------------------------


def _parse_xml(raw: bytes, charset: str, message_id: str, phone: str) -> Parsed:
    root = load_xml(raw, f"charset={charset}")
    tag = local_name(root.tag)
    record = Record(root, tag)
    if record.has("error_code") or record.has("error"):
        raise _fail(record.text("error_code") or "?", record.text("error"))
    if tag == "sms":
        return Parsed([_record_report(record, None, message_id, phone)])
    if tag != "list":
        raise ReportParseError(f"expected <sms> or <list>, got <{tag}>")

    def one(i: int, child: Any) -> DeliveryReport:
        where = f"list.sms[{i}]"
        if local_name(child.tag) != "sms":
            raise ReportParseError(f"unexpected <{local_name(child.tag)}>", field=where, index=i)
        return _record_report(Record(child, where, i), i, message_id, phone)

    return collect(list(root), one, "list.sms")


# -- fmt=3: JSON --------------------------------------------------------------------------


def _parse_json(raw: bytes, charset: str, message_id: str, phone: str) -> Parsed:
    data = load_json(raw, f"charset={charset}")
    if isinstance(data, dict):
        record = Record(data, "")
        if "error_code" in data or "error" in data:
            raise _fail(record.text("error_code") or "?", record.text("error"))
        return Parsed([_record_report(record, None, message_id, phone)])
    if not isinstance(data, list):
        raise ReportParseError(f"expected an object or an array, got {type(data).__name__}")

    def one(i: int, item: Any) -> DeliveryReport:
        return _record_report(Record(item, f"[{i}]", i), i, message_id, phone)

    return collect(data, one, "")


_RECORD_FIELDS = (
    "status",
    "last_date",
    "last_timestamp",
    "err",
    "send_date",
    "send_timestamp",
    "phone",
    "cost",
    "status_name",
    "sms_cnt",
    "id",
)


def _record_report(
    record: Record, index: int | None, message_id: str, phone: str
) -> DeliveryReport:
    fields = {key: _scalar(record, key) for key in _RECORD_FIELDS}
    fields = {key: value for key, value in fields.items() if value}
    return _finish(fields, record.path, index, message_id, phone)


def _scalar(record: Record, key: str) -> str:
    """A field as text: strings, integers and (for cost) decimal numbers are accepted."""
    if key == "cost":
        return record.decimal(key)
    if key == "last_timestamp" or key == "send_timestamp":
        value = record.integer(key)
        return "" if not value else str(value)
    return record.text(key)
