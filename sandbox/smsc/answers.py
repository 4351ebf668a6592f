"""SMSC.ru answers in each `fmt`: 0 text, 1 comma-separated numbers, 2 XML, 3 JSON.

Errors (HTTP 200):
    fmt=0  ERROR = N (description)[, ID - id]
    fmt=1  0,-N
    fmt=2  <result><error>description</error><error_code>N</error_code></result>
    fmt=3  {"error": "description", "error_code": N[, "id": id]}
send.php:
    fmt=0  OK - cnt SMS, ID - id[, COST - c, BALANCE - b]
    fmt=1  id,cnt[,cost,balance]
    fmt=2  <result><cnt>cnt</cnt><id>id</id>...</result>
    fmt=3  {"id": id, "cnt": cnt[, "cost": "c", "balance": "b"][, "phones": [...]]}
status.php: the seed's field lists for all=0/1/2, a JSON array / `<list>` / lines for a
multiple request, each record then with its `id` (and, for all=0, `phone`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

import orjson

Json = dict[str, Any]

ERRORS = {
    1: "parameters error",
    2: "authorise error",
    3: "no money",
    4: "IP address is temporarily blocked",
    5: "wrong date format",
    6: "message is denied",
    7: "invalid phone number format",
    8: "can't deliver message to this number",
    9: "too many concurrent requests or duplicate request, wait a minute",
}

# status.php fields, in the seed's order
ALL0 = ("status", "last_date", "last_timestamp", "flag", "err")
ALL1 = (
    *ALL0,
    "send_date",
    "send_timestamp",
    "phone",
    "cost",
    "sender_id",
    "status_name",
    "message",
    "comment",
    "type",
    "sms_cnt",
)
ALL2 = (*ALL1[:-2], "mccmnc", "country", "operator", "operator_orig", "region", "type", "sms_cnt")
FIELDS = {0: ALL0, 1: ALL1, 2: ALL2}
# fmt=1 positional fields (the seed's lists)
CSV = {
    0: ("status", "last_timestamp", "err"),
    1: (
        "status",
        "last_timestamp",
        "err",
        "send_timestamp",
        "phone",
        "cost",
        "sender_id",
        "status_name",
        "message",
        "comment",
        "type",
    ),
    2: (
        "status",
        "last_timestamp",
        "err",
        "send_timestamp",
        "phone",
        "country",
        "operator",
        "region",
        "cost",
        "sender_id",
        "status_name",
        "message",
        "comment",
        "type",
    ),
}
INTEGERS = frozenset(
    {"status", "last_timestamp", "flag", "err", "send_timestamp", "type", "sms_cnt"}
)


def id_value(sid: str) -> int | str:
    """An id as SMSC writes it in JSON: a number when it is one."""
    return int(sid) if sid.isdigit() else sid


def _xml(tag: str, fields: Json) -> str:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
    return f"<{tag}>{inner}</{tag}>"


def error(fmt: int, code: int, sid: str = "") -> tuple[bytes, str]:
    """An error answer (body, content type)."""
    text = ERRORS.get(code, "error")
    if fmt == 3:
        doc: Json = {"error": text, "error_code": code}
        if sid:
            doc["id"] = id_value(sid)
        return orjson.dumps(doc), "application/json"
    if fmt == 2:
        return _xml("result", {"error": text, "error_code": code}).encode(), "text/xml"
    if fmt == 1:
        return f"0,-{code}".encode(), "text/plain"
    tail = f", ID - {sid}" if sid else ""
    return f"ERROR = {code} ({text}){tail}".encode(), "text/plain"


def sent(
    fmt: int,
    sid: str,
    cnt: int,
    cost: float | None,
    balance: float | None,
    phones: Sequence[Json] | None,
) -> tuple[bytes, str]:
    """A send.php answer; `cost`/`balance` when asked (cost=2/3), `phones` with op/err=1."""
    money: Json = {}
    if cost is not None:
        money["cost"] = f"{cost:.2f}"
    if balance is not None:
        money["balance"] = f"{balance:.2f}"
    if fmt == 3:
        doc: Json = {"id": id_value(sid), "cnt": cnt, **money}
        if phones is not None:
            doc["phones"] = list(phones)
        return orjson.dumps(doc), "application/json"
    if fmt == 2:
        inner = "".join(_xml("phone", p) for p in phones or ())
        body = _xml("result", {"cnt": cnt, "id": sid, **money})
        return body.replace("</result>", inner + "</result>").encode(), "text/xml"
    if fmt == 1:
        return ",".join([sid, str(cnt), *money.values()]).encode(), "text/plain"
    extra = "".join(f", {k.upper()} - {v}" for k, v in money.items())
    lines = [f"OK - {cnt} SMS, ID - {sid}{extra}"]
    lines += [", ".join(f"{k} = {v}" for k, v in p.items()) for p in phones or ()]
    return "\n".join(lines).encode(), "text/plain"


def statuses(fmt: int, all_: int, records: Sequence[Json], multi: bool) -> tuple[bytes, str]:
    """A status.php answer; each record has every field, plus `id` and `phone`."""
    shaped = [_shape(r, all_, multi) for r in records]
    if fmt == 3:
        doc: Any = shaped if multi else shaped[0]
        return orjson.dumps(doc), "application/json"
    if fmt == 2:
        items = "".join(_xml("sms", r) for r in shaped)
        return (f"<list>{items}</list>" if multi else items).encode(), "text/xml"
    if fmt == 1:
        return "\n".join(_csv(r, all_, multi) for r in records).encode(), "text/plain"
    return "\n".join(_text(r) for r in shaped).encode(), "text/plain"


def _shape(r: Json, all_: int, multi: bool) -> Json:
    """The fields of one record for `all`; a message not found is its status alone."""
    if r["status"] == -3:
        out: Json = {"status": -3}
    else:
        out = {k: r[k] for k in FIELDS[all_]}
    if multi:
        out["id"] = id_value(r["id"])
        if all_ == 0:
            out["phone"] = r["phone"]
    return out


def _csv(r: Json, all_: int, multi: bool) -> str:
    values = [-3, 0, 0] if r["status"] == -3 else [r[k] for k in CSV[all_]]
    if multi:
        values += [r["id"], r["phone"]] if all_ == 0 else [r["id"]]
    return ",".join(str(v) for v in values)


def _text(r: Json) -> str:
    items = [
        ("Status" if k == "status" else "check_time" if k == "last_date" else k, v)
        for k, v in r.items()
    ]
    return ", ".join(f"{k} = {v}" for k, v in items)
