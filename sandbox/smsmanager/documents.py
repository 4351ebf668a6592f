"""The XML API's documents, as the SmsManager sandbox reads and writes them.

`read` takes the `XMLDATA` field of a `/Send` and gives its requests in the HTTP API's
terms (`gateway`, `customid`, `sender`, `expiration`, `time`, `message`; the numbers
apart), so that one check serves both APIs; a document it cannot take raises
`DocumentError` with the code of SmsManager's table.  `ok` and `refusal` write the
answers.  The shapes are those of `sandbox.smsmanager.app`'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

FIELD = "XMLDATA"
OK, ERROR = "OK", "ERROR"
OK_ID = "0"
# <Request> attribute -> the HTTP API's parameter of the same meaning
ATTRIBUTES = {
    "Type": "gateway",
    "CustomID": "customid",
    "Sender": "sender",
    "Expiration": "expiration",
    "Time": "time",
}


class DocumentError(Exception):
    """The whole document refused with SmsManager error `code`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Wanted:
    """One `<Request>`: its parameters (absent: not given) and its numbers as written
    (None: no `<Number>` at all)."""

    params: dict[str, str]
    numbers: list[str] | None


@dataclass(frozen=True, slots=True)
class Answered:
    """One `<ResponseRequest>` of an OK answer."""

    request_id: str
    custom_id: str
    numbers: Sequence[str]
    sms_count: int
    price: float


def read(raw: str, api_key: str) -> list[Wanted]:
    """The requests of a document; 101 empty, 102 not XML (or with a DTD), 103 no or a
    wrong `RequestHeader/Apikey`, 109 no `<Request>`."""
    if not raw.strip():
        raise DocumentError("101")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException):
        raise DocumentError("102") from None
    if root.tag != "RequestDocument":
        raise DocumentError("102")
    if (root.findtext("RequestHeader/Apikey") or "").strip() != api_key:
        raise DocumentError("103")
    requests = root.findall("RequestList/Request")
    if not requests:
        raise DocumentError("109")
    return [_wanted(request) for request in requests]


def _wanted(request: Element) -> Wanted:
    params: dict[str, str] = {}
    for attribute, name in ATTRIBUTES.items():
        value = request.get(attribute)
        if value is not None:
            params[name] = value
    message = request.find("Message")
    if message is not None:
        params["message"] = message.text or ""
    numbers = [number.text or "" for number in request.iterfind("NumbersList/Number")]
    return Wanted(params, numbers or None)


def ok(answered: Sequence[Answered]) -> str:
    """`<Result>` with `<Response Type="OK">` and a `<ResponseRequest>` per request."""
    root = Element("Result")
    SubElement(root, "Response", {"Type": OK, "ID": OK_ID}).text = OK
    listed = SubElement(root, "ResponseRequestList")
    for a in answered:
        attributes = {"SmsCount": str(a.sms_count), "SmsPrice": f"{a.price:.2f}"}
        request = SubElement(listed, "ResponseRequest", attributes)
        SubElement(request, "RequestID").text = a.request_id
        if a.custom_id:
            SubElement(request, "CustomID").text = a.custom_id
        numbers = SubElement(request, "ResponseNumbersList")
        for number in a.numbers:
            SubElement(numbers, "Number").text = number
    return _xml(root)


def refusal(code: str, text: str) -> str:
    """`<Result>` with `<Response Type="ERROR" ID="code">text</Response>`."""
    root = Element("Result")
    SubElement(root, "Response", {"Type": ERROR, "ID": code}).text = text
    return _xml(root)


def _xml(root: Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode")
