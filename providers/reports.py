"""Delivery reports, as every provider's parser returns them, and the safe loaders they share.

A provider folder holds its own `reports.py` that turns the gateway's answer or
callback body into a `Parsed`: the `DeliveryReport`s of its good records, and a
`ReportParseError` for each record it refuses.  There is one error type,
`ReportParseError`, used two ways:

* raised, when the body as a whole cannot be used (the *envelope*: oversized,
  empty, undecodable, malformed or truncated JSON/XML, a DTD or entity in XML,
  the wrong top-level type, the record list missing or not a list, a gateway
  error answer).  Nothing in such a body is trusted.
* collected in `Parsed.rejected`, one per bad record of a list whose envelope
  parsed (a field of the wrong type, an unknown status, a missing messageId...),
  naming the field path and the record index and keeping a copy of the record.
  The other records of the same body are still reported: one bad record never
  costs the good ones.

A body that *is* one record (an SMSC.ru single status, one SmsManager receipt)
has nothing to separate, so a bad record there is raised.

XML is always parsed with defusedxml and any DTD is refused outright: a delivery
report never needs one, so billion-laughs and external-entity (XXE) bodies are
rejected before a single entity is declared, never expanded.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml.ElementTree as SafeET
import orjson
from defusedxml import DefusedXmlException

P = ParamSpec("P")
R = TypeVar("R")

MAX_REPORT_BYTES = 1_048_576  # a larger body is refused before it is decoded or parsed
_SNIPPET = 40  # at most this many characters of a bad value are quoted in an error
RECORD_MAX_CHARS = 4096  # a rejected record keeps at most this much of its raw text

STATES = frozenset({"pending", "delivered", "undeliverable", "expired", "rejected", "accepted"})


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The state of one message, normalized across providers and formats."""

    message_id: str
    state: str  # one of STATES
    final: bool
    bulk_id: str = ""
    to: str = ""
    status_code: str = ""
    status_name: str = ""
    group: str = ""
    error_code: str = ""
    error_name: str = ""
    permanent: bool | None = None
    suppress: bool = False  # the code says the number is bad or barred: opt it out
    done_at: str = ""
    sent_at: str = ""
    sms_count: int | None = None
    price: str = ""
    callback_data: str = ""
    provider: str = dataclasses.field(kw_only=True)  # every parser names its own
    format: str = ""  # "2018" | "v1" | "smsc" | "smsmanager"


class ReportParseError(ValueError):
    """A report body we refuse: says why, where (field path, record index) and any gateway code.

    `code` is set when the body was a well-formed *error answer* from the
    gateway (SMSC.ru `ERROR = 9`, ANTS `requestError`), so the caller can tell
    "throttled" from "bad credentials" without parsing the message.

    `index` is the position of the refused record in the body's record list (None
    for the body as a whole, or for a body that is one record), and `record` the
    raw text of that record (at most RECORD_MAX_CHARS), set when the record was
    rejected from a list (see `Parsed`).
    """

    def __init__(
        self, reason: str, *, field: str = "", index: int | None = None, code: str = ""
    ) -> None:
        self.reason = reason
        self.field = field
        self.index = index
        self.code = code
        self.record = ""
        super().__init__(self._message())

    def _message(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def located(self, index: int, field: str, raw: object) -> ReportParseError:
        """This error as the refusal of record `index` (field path and raw text filled in)."""
        if self.index is None:
            self.index = index
        if not self.field:
            self.field = field
            self.args = (self._message(),)
        self.record = render_record(raw)
        return self

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: what was refused, where, and the record (for `sms:reports:bad`)."""
        data: dict[str, object] = {"index": self.index, "field": self.field, "reason": self.reason}
        if self.code:
            data["code"] = self.code
        if self.record:
            data["record"] = self.record
        return data


@dataclass(slots=True)
class Parsed(Sequence[DeliveryReport]):
    """What a parser made of a body whose envelope it could read.

    `reports` are the good records, in body order; `rejected` one ReportParseError
    per refused record (with its `index`, `field` and `record`), in body order.
    As a sequence it is its good reports, so code written for the list the parsers
    used to return (iterate, `len`, index, unpack) keeps working; such code simply
    never sees the rejected records.
    """

    reports: list[DeliveryReport] = dataclasses.field(default_factory=list)
    rejected: list[ReportParseError] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reports)

    def __iter__(self) -> Iterator[DeliveryReport]:
        return iter(self.reports)

    def __getitem__(self, index: Any) -> Any:
        return self.reports[index]


def render_record(raw: object) -> str:
    """The raw text of one record (JSON object, XML element or text line), capped."""
    try:
        if isinstance(raw, Element):
            text = tostring(raw, encoding="unicode")  # serializing: no parsing, no entities
        elif isinstance(raw, str):
            text = raw
        else:
            text = orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:  # a record we cannot render is still refused, just without its copy
        text = snippet(raw)
    return text if len(text) <= RECORD_MAX_CHARS else text[: RECORD_MAX_CHARS - 3] + "..."


def collect(raws: Sequence[Any], build: Callable[[int, Any], DeliveryReport], path: str) -> Parsed:
    """`build(i, raw)` for every record of a list; a record that fails is rejected, not fatal.

    `path` names the list (`results`, `line`, or "" for a top-level array): a
    rejected record without a field path of its own is named `{path}[i]`.  Any
    exception, not only ReportParseError, refuses only its record (as "internal
    parser error"), so one hostile record never costs the rest of the body.
    """
    reports: list[DeliveryReport] = []
    rejected: list[ReportParseError] = []
    for i, raw in enumerate(raws):
        try:
            reports.append(build(i, raw))
        except ReportParseError as exc:
            rejected.append(exc.located(i, f"{path}[{i}]", raw))
        except Exception as exc:  # the contract: one error type, whatever the record
            error = ReportParseError(f"internal parser error: {type(exc).__name__}")
            error.__cause__ = exc
            rejected.append(error.located(i, f"{path}[{i}]", raw))
    return Parsed(reports, rejected)


def snippet(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def plain_decimal(value: str) -> str:
    """'0.50' -> '0.5', '1.00' -> '1', '' -> ''; ValueError unless a finite number."""
    if not value:
        return ""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    text = format(number.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


# -- raw body ---------------------------------------------------------------------------


def as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    """The body as bytes, refusing anything over MAX_REPORT_BYTES."""
    if isinstance(body, str):
        if len(body) > MAX_REPORT_BYTES:  # cheap pre-check before encoding
            raise ReportParseError(f"body longer than {MAX_REPORT_BYTES} characters")
        body = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, bytearray | memoryview):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise ReportParseError(f"body must be bytes or str, not {type(body).__name__}")
    if len(body) > MAX_REPORT_BYTES:
        raise ReportParseError(f"body is {len(body)} bytes, over the {MAX_REPORT_BYTES} limit")
    if not body.strip():
        raise ReportParseError("empty body")
    return body


def content_charset(content_type: str) -> str:
    """The `charset=` parameter of a Content-Type header, lower-cased ('' if none)."""
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", content_type or "")
    return match.group(1).lower() if match else ""


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def sniff_encoding(body: bytes) -> str:
    """The encoding the bytes prove: a BOM, or NUL-interleaved ASCII (BOM-less UTF-16)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    head = body[:4]
    if len(head) == 4 and head[0] == 0 and head[1] != 0 and head[2] == 0:
        return "utf-16-be"
    if len(head) == 4 and head[0] != 0 and head[1] == 0 and head[3] == 0:
        return "utf-16-le"
    return ""


_CODEC_ALIASES = {"windows-874": "cp874", "x-windows-874": "cp874"}  # IANA names Python lacks


def _decode(body: bytes, encoding: str) -> str:
    try:
        return body.decode(_CODEC_ALIASES.get(encoding.lower(), encoding))
    except LookupError:
        raise ReportParseError(f"unknown character encoding {snippet(encoding)}") from None
    except UnicodeDecodeError as exc:
        raise ReportParseError(
            f"body is not valid {encoding} (byte {exc.start}): truncated or mis-declared"
        ) from None


_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")


def decode_body(body: bytes, content_type: str = "", *, xml: bool = False) -> str:
    """Bytes to text, deciding the encoding robustly.

    Order: a BOM or BOM-less UTF-16 byte pattern (what the bytes prove) wins;
    else strict UTF-8 if the bytes are valid UTF-8 (this is how a body that
    *declares* utf-16 but was really sent as UTF-8 is read); else the
    Content-Type charset; else, for XML, the encoding in the XML declaration.
    A body that fits none of them is refused.
    """
    sniffed = sniff_encoding(body)
    if sniffed:
        return _decode(body, sniffed)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = content_charset(content_type)
    if not declared and xml:
        match = _XML_DECL_ENCODING.match(body)
        declared = match.group(1).decode("ascii").lower() if match else ""
    if not declared or declared.replace("-", "").replace("_", "") == "utf8":
        raise ReportParseError("body is not valid UTF-8 and declares no usable other encoding")
    return _decode(body, declared)


def looks_like_xml(body: bytes, content_type: str) -> bool:
    """XML or not, by the first character after any BOM and whitespace, else by media type.

    The bytes win over the header: a mislabelled body still parses, and a body
    that is neither fails in either parser with a ReportParseError.
    """
    sniffed = sniff_encoding(body)
    head = body[:64].decode(sniffed, "ignore") if sniffed else body[:64].decode("latin-1")
    head = head.lstrip("\ufeff \t\r\n")
    if head[:1] in {"<", "{", "["}:
        return head.startswith("<")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media.endswith(("/xml", "+xml"))


# -- JSON and XML -----------------------------------------------------------------------


def load_json(body: bytes, content_type: str = "") -> Any:
    """Parse JSON (UTF-8, or UTF-16/32 with a BOM) with orjson; failures are ReportParseError."""
    text = decode_body(body, content_type)
    try:
        return orjson.loads(text.lstrip("\ufeff"))
    except orjson.JSONDecodeError as exc:
        raise ReportParseError(f"malformed or truncated JSON: {exc}") from None


def load_xml(body: bytes, content_type: str = "") -> Element:
    """Parse XML with defusedxml, refusing any DTD (hence every entity declaration)."""
    text = decode_body(body, content_type, xml=True).lstrip("\ufeff")
    try:
        # A str is handed to expat already decoded, so the declared encoding is ignored.
        root: Element = SafeET.fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        return root
    except DefusedXmlException as exc:
        raise ReportParseError(
            f"XML with a DTD or entity declaration is refused ({type(exc).__name__})"
        ) from None
    except ParseError as exc:
        raise ReportParseError(f"malformed or truncated XML: {exc}") from None


def local_name(tag: object) -> str:
    """An element tag without its {namespace}."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# -- one record, JSON object or XML element ---------------------------------------------


class Record:
    """Typed, path-aware read access to one JSON object or one XML element.

    Every getter raises ReportParseError naming the full field path (e.g.
    `details[1].status.code`) and the record index when the value has the
    wrong type.  XML text is stripped; JSON strings are stripped too.
    """

    __slots__ = ("_data", "index", "path")

    def __init__(self, data: object, path: str, index: int | None = None) -> None:
        if not isinstance(data, Mapping | Element):
            kind = type(data).__name__
            raise ReportParseError(f"expected an object, got {kind}", field=path, index=index)
        self._data = data
        self.path = path
        self.index = index

    def error(self, key: str, reason: str) -> ReportParseError:
        return ReportParseError(reason, field=self.where(key), index=self.index)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self._raw(key) is not None

    def _raw(self, key: str) -> object:
        if isinstance(self._data, Mapping):
            return self._data.get(key)
        for child in self._data:
            if local_name(child.tag) == key:
                return child
        return None

    def text(self, key: str, *, required: bool = False) -> str:
        """A string field; JSON integers are accepted and rendered (ids are often numeric)."""
        raw = self._raw(key)
        if raw is None:
            if required:
                raise self.error(key, "missing")
            return ""
        if isinstance(raw, Element):
            if len(raw):
                raise self.error(key, "expected text, got nested elements")
            value = raw.text or ""
        elif isinstance(raw, str):
            value = raw
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = str(raw)
        else:
            raise self.error(key, f"expected a string, got {type(raw).__name__}")
        value = value.strip()
        if required and not value:
            raise self.error(key, "empty")
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        raw = self._raw(key)
        if isinstance(raw, bool) or not isinstance(raw, int | str | Element | None):
            raise self.error(key, f"expected an integer, got {type(raw).__name__}")
        if isinstance(raw, int):
            return raw
        value = self.text(key) if raw is not None else ""
        if not value:
            if required:
                raise self.error(key, "missing")
            return None
        if not re.fullmatch(r"[+-]?\d{1,18}", value):
            raise self.error(key, f"expected an integer, got {snippet(value)}")
        return int(value)

    def boolean(self, key: str) -> bool | None:
        raw = self._raw(key)
        if raw is None:
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, Element | str):
            value = self.text(key).lower()
            if value in {"true", "1"}:
                return True
            if value in {"false", "0"}:
                return False
            if not value:
                return None
            raise self.error(key, f"expected true or false, got {snippet(value)}")
        raise self.error(key, f"expected a boolean, got {type(raw).__name__}")

    def decimal(self, key: str) -> str:
        """A number (JSON number or numeric text) as a normalized plain decimal string."""
        raw = self._raw(key)
        if raw is None:
            return ""
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Element):
            raise self.error(key, f"expected a number, got {type(raw).__name__}")
        value = str(raw) if isinstance(raw, int | float) else self.text(key)
        try:
            return plain_decimal(value)
        except ValueError:
            raise self.error(key, f"expected a finite number, got {snippet(value)}") from None

    def child(self, key: str, *, required: bool = False) -> Record | None:
        raw = self._raw(key)
        if raw is None:
            if required:
                raise self.error(key, "missing")
            return None
        if isinstance(raw, Element) and not len(raw) and not (raw.text or "").strip():
            if required:
                raise self.error(key, "empty")
            return None
        return Record(raw, self.where(key), self.index)

    def need(self, key: str) -> Record:
        """A required nested object."""
        record = self.child(key, required=True)
        if record is None:  # pragma: no cover - child(required=True) raises first
            raise self.error(key, "missing")
        return record

    def each(self, key: str, item_tag: str, build: Callable[[Record], DeliveryReport]) -> Parsed:
        """`build` on every record of a list field: a JSON array, or XML `<key><item_tag/>…</key>`.

        The list itself is the envelope: missing or not a list raises
        ReportParseError.  A record `build` refuses, a record that is not an
        object, or an XML child other than `<item_tag>` is rejected on its own
        (see `collect`), named `key[i]` with its index.
        """
        raw = self._raw(key)
        if raw is None:
            raise self.error(key, "missing")
        if isinstance(raw, Element):
            values: list[object] = list(raw)
        elif isinstance(raw, list):
            values = raw
        else:
            raise self.error(key, f"expected a list, got {type(raw).__name__}")
        base = self.where(key)

        def one(i: int, value: object) -> DeliveryReport:
            where = f"{base}[{i}]"
            if isinstance(value, Element) and local_name(value.tag) != item_tag:
                tag = local_name(value.tag)
                raise ReportParseError(f"unexpected element <{tag}>", field=where, index=i)
            return build(Record(value, where, i))

        return collect(values, one, base)


def guard(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public parser: anything but ReportParseError becomes one (and is chained).

    The parsers are written to raise only ReportParseError; this is the last
    line of defence so a worker never sees, say, a RecursionError from a
    hostile body.  Such errors say "internal parser error" so tests can tell.
    """

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ReportParseError:
            raise
        except Exception as exc:  # the contract is: one error type, whatever the body
            raise ReportParseError(f"internal parser error: {type(exc).__name__}") from exc

    return wrapper
