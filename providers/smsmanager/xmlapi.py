"""SmsManager's XML API `Send`: the document of a batch's texts and the reading of its answer.

A batch of several texts goes out as ONE document, a `<Request>` per text (its numbers
in `<NumbersList>`), in the form field `XMLDATA`; the answer lists, per request, the
gateway's request id and the numbers it was accepted for.  What the public documents
and clients say of both, with sources, is in `providers.smsmanager.sender`; this module
only writes and reads them.  Nothing here decides a verdict: the sender maps an error
answer through the same code table (`codes`) as the HTTP API's.

Reading is strict: the answer is parsed with defusedxml (no DTD, no entities), and
anything the sender relies on that is missing or malformed (no `<Response>`, an OK
without a request list, a request without an id or without numbers, a number or a
customid that is not ours, fewer or more requests than we sent) raises
GatewayProtocolError: the gateway may have taken the document, so the worker treats
the whole batch as maybe sent.  What it does not rely on (the root's name, the result
header, prices) is not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from core.errors import GatewayProtocolError

SEND_PATH = "/Send"
FIELD = "XMLDATA"  # the POST field that carries the document
MESSAGE_TYPE = "Text"
OK, ERROR = "OK", "ERROR"  # <Response Type=...>
BODY_CHARS = 500


@dataclass(frozen=True, slots=True)
class Part:
    """One `<Request>` of the document: a text and the numbers that get it."""

    text: str
    numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Taken:
    """One `<ResponseRequest>` of an OK answer."""

    request_id: str
    numbers: tuple[str, ...]  # as the gateway wrote them


def document(api_key: str, attributes: dict[str, str], parts: Sequence[Part]) -> str:
    """The `<RequestDocument>`: the API key in its header, then one `<Request>` per part,
    each with the same `attributes` (Type, CustomID, Sender, Expiration)."""
    root = Element("RequestDocument")
    SubElement(SubElement(root, "RequestHeader"), "Apikey").text = api_key
    requests = SubElement(root, "RequestList")
    for part in parts:
        request = SubElement(requests, "Request", attributes)
        SubElement(request, "Message", {"Type": MESSAGE_TYPE}).text = part.text
        numbers = SubElement(request, "NumbersList")
        for number in part.numbers:
            SubElement(numbers, "Number").text = number
    return tostring(root, encoding="unicode")


def error_code(raw: bytes) -> str | None:
    """The code of an error answer (`<Response Type="ERROR" ID="...">`), else None."""
    root = _parse(raw)
    response = root.find("Response") if root is not None else None
    if response is None or response.get("Type") != ERROR:
        return None
    return (response.get("ID") or "").strip() or None


def read_ok(raw: bytes, requests: int, custom_id: str) -> list[Taken]:
    """The requests of an OK answer to a document of `requests` requests that all
    carried `custom_id`; anything else raises GatewayProtocolError."""
    root = _parse(raw)
    response = root.find("Response") if root is not None else None
    if root is None or response is None or response.get("Type") != OK:
        raise _unreadable("no OK <Response>", raw)
    elements = root.iterfind("ResponseRequestList/ResponseRequest")
    taken = [_taken(element, custom_id, raw) for element in elements]
    if len(taken) != requests:
        raise _unreadable(f"{len(taken)} requests answered of {requests} sent", raw)
    return taken


def _taken(element: Element, custom_id: str, raw: bytes) -> Taken:
    request_id = (element.findtext("RequestID") or "").strip()
    echoed = (element.findtext("CustomID") or "").strip()
    listed = element.iterfind("ResponseNumbersList/Number")
    numbers = tuple((number.text or "").strip() for number in listed)
    if not request_id.isdigit():
        raise _unreadable(f"a request without an id ({request_id!r})", raw)
    if echoed and echoed != custom_id:
        raise _unreadable(f"request {request_id} has customid {echoed}, not {custom_id}", raw)
    if not numbers or not all(numbers):
        raise _unreadable(f"request {request_id} lists no number", raw)
    return Taken(request_id, numbers)


def _parse(raw: bytes) -> Element | None:
    """The answer's root element; None when it is not XML (a proxy's page, a bare 503)."""
    try:
        root: Element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _unreadable(f"a DTD or entity in the answer ({type(exc).__name__})", raw) from None
    except ParseError:
        return None
    return root


def _unreadable(why: str, raw: bytes) -> GatewayProtocolError:
    snippet = raw[:BODY_CHARS].decode("utf-8", "replace")
    return GatewayProtocolError(f"unreadable XML /Send answer: {why}", body=snippet)
