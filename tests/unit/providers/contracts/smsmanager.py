"""SmsManager: POST /Send (HTTP API and, for several texts, XML API), GET /RequestList and
/RequestStatus, per its documents.

The batch's validity end is fixed (2030-01-22 12:00:00 UTC, 13:00:00 in Prague), so the
`expiration` of every request is known; the customid of bulkId `c-b0` is written out
here on purpose: it must never change (messages in flight are known by it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from config.settings import Settings
from core.batch import Batch
from core.binary import Binary
from core.errors import (
    GatewayAuthError,
    GatewayMisconfigured,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from core.gsm_national import Language
from core.options import SendOptions
from providers.base import Action
from tests.unit.providers.contracts.harness import Answer, Case, Request, batch

PROVIDER = "smsmanager"
KEY = "secret-key"
CID = "1818980422"  # custom_id("c-b0")
EXPIRES_MS = 1_895_313_600_000  # 2030-01-22T12:00:00Z
EXP = "2030-01-22T13:00:00"  # ... in Prague (CET)
EXP_LISTED = "2030-01-22 13:00:00"
N0, N1 = "66812345600", "66812345601"
A = Action
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def settings(base_url: str) -> Settings:
    return Settings(smsmanager_base_url=base_url, smsmanager_api_key=KEY)


def fixed(b: Batch) -> Batch:
    return replace(b, expires_at=EXPIRES_MS)


def send(numbers: str, text: str = "Hi") -> Request:
    """The exact /Send form for these numbers and this text."""
    form = {
        "apikey": KEY,
        "number": numbers,
        "message": text,
        "gateway": "high",
        "sender": "Shop",
        "customid": CID,
        "expiration": EXP,
    }
    return Request("POST", "/Send", form=form, headers={"Content-Type": FORM})


BOTH = send(f"{N0},{N1}")


def ok(request_id: str, *numbers: str, cid: str = CID) -> Answer:
    return Answer(
        200, f"OK|{request_id}|{','.join(numbers)}|{cid}\n", {"Content-Type": "text/plain"}
    )


def err(code: str, status: int, text: str = "") -> Answer:
    return Answer(status, f"ERROR|{code}|{text}", {"Content-Type": "text/plain"})


# the exact XML document of the two-text batch (the settings point both APIs at one server)
TWO_TEXTS = (
    "<RequestDocument>"
    f"<RequestHeader><Apikey>{KEY}</Apikey></RequestHeader>"
    "<RequestList>"
    f'<Request Type="high" CustomID="{CID}" Sender="Shop" Expiration="{EXP}">'
    '<Message Type="Text">Hi Ann &amp; co</Message>'
    f"<NumbersList><Number>{N0}</Number></NumbersList>"
    "</Request>"
    f'<Request Type="high" CustomID="{CID}" Sender="Shop" Expiration="{EXP}">'
    '<Message Type="Text">Hi &lt;Bob&gt;</Message>'
    f"<NumbersList><Number>{N1}</Number></NumbersList>"
    "</Request>"
    "</RequestList>"
    "</RequestDocument>"
)
ANN_BOB = ["Hi Ann & co", "Hi <Bob>"]  # texts that need escaping
XML_SEND = Request("POST", "/Send", form={"XMLDATA": TWO_TEXTS}, headers={"Content-Type": FORM})


def xml_send(*requests: tuple[str, tuple[str, ...]]) -> Request:
    """The XML /Send of these (text, numbers) requests, built as TWO_TEXTS is written."""
    escape = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
    body = "".join(
        f'<Request Type="high" CustomID="{CID}" Sender="Shop" Expiration="{EXP}">'
        f'<Message Type="Text">{text.translate(escape)}</Message><NumbersList>'
        + "".join(f"<Number>{n}</Number>" for n in numbers)
        + "</NumbersList></Request>"
        for text, numbers in requests
    )
    document = (
        f"<RequestDocument><RequestHeader><Apikey>{KEY}</Apikey></RequestHeader>"
        f"<RequestList>{body}</RequestList></RequestDocument>"
    )
    return Request("POST", "/Send", form={"XMLDATA": document}, headers={"Content-Type": FORM})


def xml_ok(*requests: tuple[str, tuple[str, ...]], cid: str = CID) -> Answer:
    """An OK answer: (request id, its numbers) per request, as the public clients read it."""
    listed = "".join(
        f'<ResponseRequest SmsCount="{len(numbers)}" SmsPrice="1.10">'
        f"<RequestID>{rid}</RequestID><CustomID>{cid}</CustomID><ResponseNumbersList>"
        + "".join(f"<Number>{n}</Number>" for n in numbers)
        + "</ResponseNumbersList></ResponseRequest>"
        for rid, numbers in requests
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Result>'
        '<ResultHeader Version="1"><Interface>XML</Interface></ResultHeader>'
        f'<Response Type="OK" ID="0">OK</Response><ResponseRequestList>{listed}'
        "</ResponseRequestList></Result>"
    )
    return Answer(200, body, {"Content-Type": "application/xml"})


def xml_err(code: str, status: int) -> Answer:
    body = f'<Result><Response Type="ERROR" ID="{code}">chyba</Response></Result>'
    return Answer(status, body, {"Content-Type": "application/xml"})


def poll_refs(expected: dict[str, str]) -> Any:
    def check(results: Any) -> None:
        assert {r.message_id: r.poll_ref for r in results if r.poll_ref} == expected

    return check


def request_list() -> Request:
    return Request("GET", "/RequestList", query={"apikey": KEY})


def request_status(request_id: str) -> Request:
    return Request("GET", "/RequestStatus", query={"apikey": KEY, "requestid": request_id})


# requests of the account: ours (Shop, our expiration), one of another campaign (another
# validity end) and one of another sender with our validity end: only ours is asked about
LISTED = Answer(
    200,
    "\n".join(
        [
            f"5001|high|2030-01-20 10:00:01|{EXP_LISTED}|Shop|0|2",
            "5002|high|2030-01-20 10:00:02|2030-01-22 14:00:00|Shop|0|2",
            f"5003|economy|2030-01-20 10:00:03|{EXP_LISTED}|Alerts|0|2",
        ]
    ),
)


def provider_ids(expected: dict[str, str]) -> Any:
    def check(results: Any) -> None:
        items = results.values() if isinstance(results, dict) else results
        assert {r.message_id: r.provider_id for r in items} == expected

    return check


CASES = [
    *(
        Case(
            f"options: {named} refused before any request (no such option)",
            batch(options=options),
            [],
            [],
            refused=f"gateway smsmanager does not take {named}",
        )
        for named, options in (
            ("flash SMS", SendOptions(flash=True)),
            ("transliteration CYRILLIC", SendOptions(transliteration="CYRILLIC")),
            (
                "national language PT (single shift)",
                SendOptions(language=Language("PT", single_shift=True)),
            ),
            ("intermediate reports", SendOptions(intermediate_reports=True)),
        )
    ),
    Case(
        "binary: refused before any request, never sent as text",
        batch(text="00ff", binary=Binary()),
        [],
        [],
        refused="gateway smsmanager cannot send binary messages",
    ),
    Case(
        "shared text: one request, every number accepted",
        fixed(batch()),
        [ok("5001", N0, N1)],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
        check=provider_ids({"c-0": f"{CID}:{N0}", "c-1": f"{CID}:{N1}"}),
    ),
    Case(
        "shared text: the request id is each accepted destination's poll ref",
        fixed(batch()),
        [ok("5001", N0)],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.PERMANENT},
        check=poll_refs({"c-0": "5001"}),
    ),
    Case(
        "a number the OK answer leaves out was refused (invalid)",
        fixed(batch()),
        [ok("5001", N0)],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.PERMANENT},
    ),
    Case(
        "numbers in the answer as the gateway writes them (+, 00)",
        fixed(batch()),
        [ok("5001", "+" + N0, "00" + N1)],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "personalised texts: one XML document, a request per text; request ids as poll refs",
        fixed(batch(texts=ANN_BOB)),
        [xml_ok(("5002", (N1,)), ("5001", ("+" + N0,)))],
        [XML_SEND],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
        check=poll_refs({"c-0": "5001", "c-1": "5002"}),
    ),
    Case(
        "personalised texts that are the same share a request",
        fixed(batch(texts=["Hi", "Hi"])),
        [ok("5001", N0, N1)],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "XML: a request accepted without one of its numbers: that one was refused",
        fixed(batch(3, texts=["Hi Ann & co", "Hi Ann & co", "Hi <Bob>"])),
        [xml_ok(("5001", (N0,)), ("5002", ("66812345602",)))],
        [xml_send(("Hi Ann & co", (N0, N1)), ("Hi <Bob>", ("66812345602",)))],
        {"c-0": A.ACCEPTED, "c-1": A.PERMANENT, "c-2": A.ACCEPTED},
    ),
    Case(
        "XML: an error document (105, no credit) pauses",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("105", 402)],
        [XML_SEND],
        error=GatewayMisconfigured,
    ),
    Case(
        "XML: an error document (103) is bad credentials, even with HTTP 200",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("103", 200)],
        [XML_SEND],
        error=GatewayAuthError,
    ),
    Case(
        "XML: error 900 (500) before anything is taken is retried",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("900", 500)],
        [XML_SEND],
        error=GatewayServerError,
    ),
    Case(
        "XML: 503, not processed in 30 s, is retried",
        fixed(batch(texts=ANN_BOB)),
        [Answer(503, "503 Service Unavailable")],
        [XML_SEND],
        error=GatewayServerError,
    ),
    Case(
        "XML: fewer requests answered than sent may hide an acceptance",
        fixed(batch(texts=ANN_BOB)),
        [xml_ok(("5001", (N0,)))],
        [XML_SEND],
        error=GatewayProtocolError,
    ),
    Case(
        "XML: a number we did not send cannot be trusted",
        fixed(batch(texts=ANN_BOB)),
        [xml_ok(("5001", (N0,)), ("5002", ("66899999999",)))],
        [XML_SEND],
        error=GatewayProtocolError,
    ),
    Case(
        "XML: another customid cannot be trusted",
        fixed(batch(texts=ANN_BOB)),
        [xml_ok(("5001", (N0,)), ("5002", (N1,)), cid="42")],
        [XML_SEND],
        error=GatewayProtocolError,
    ),
    Case(
        "XML: an unreadable 200 may hide an acceptance",
        fixed(batch(texts=ANN_BOB)),
        [Answer(200, "<html>")],
        [XML_SEND],
        error=GatewayProtocolError,
    ),
    Case(
        "XML: a document refused for one text (202): each text alone, one fails",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("202", 400), err("202", 400), ok("5002", N1)],
        [XML_SEND, send(N0, ANN_BOB[0]), send(N1, ANN_BOB[1])],
        {"c-0": A.PERMANENT, "c-1": A.ACCEPTED},
        check=poll_refs({"c-1": "5002"}),
    ),
    Case(
        "XML refused (201), then an unreadable answer leaves its destination unknown",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("201", 400), ok("5001", N0), Answer(200, "<html>")],
        [XML_SEND, send(N0, ANN_BOB[0]), send(N1, ANN_BOB[1])],
        {"c-0": A.ACCEPTED},
    ),
    Case(
        "XML refused (202), then every text refused (202) fails them all",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("202", 400), err("202", 400), err("202", 400)],
        [XML_SEND, send(N0, ANN_BOB[0]), send(N1, ANN_BOB[1])],
        error=GatewayRequestError,
    ),
    Case(
        "XML refused (201), then a fatal refusal pauses the rest too",
        fixed(batch(texts=ANN_BOB)),
        [xml_err("201", 400), ok("5001", N0), err("105", 402)],
        [XML_SEND, send(N0, ANN_BOB[0]), send(N1, ANN_BOB[1])],
        {"c-0": A.ACCEPTED, "c-1": A.FATAL},
    ),
    Case(
        "103 bad credentials (401)",
        fixed(batch()),
        [err("103", 401)],
        [BOTH],
        error=GatewayAuthError,
    ),
    Case(
        "103 answered with HTTP 200, as older answers were",
        fixed(batch()),
        [err("103", 200)],
        [BOTH],
        error=GatewayAuthError,
    ),
    Case(
        "105 no credit (402) pauses",
        fixed(batch()),
        [err("105", 402)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "104 invalid gateway parameter pauses",
        fixed(batch()),
        [err("104", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "203 sender not set up pauses",
        fixed(batch()),
        [err("203", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "101 no request data pauses",
        fixed(batch()),
        [err("101", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "102 data in a wrong format pauses",
        fixed(batch()),
        [err("102", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "109 required data missing pauses",
        fixed(batch()),
        [err("109", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "201 no valid number fails the request's destinations",
        fixed(batch()),
        [err("201", 400)],
        [BOTH],
        error=GatewayRequestError,
    ),
    Case(
        "202 a shared text too long pauses",
        fixed(batch()),
        [err("202", 400)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "202 a personalised text too long fails its destinations",
        fixed(batch(texts=["Hi", "Hi"])),
        [err("202", 400)],
        [BOTH],
        error=GatewayRequestError,
    ),
    Case(
        "9xx system error (500) is retried",
        fixed(batch()),
        [err("901", 500)],
        [BOTH],
        error=GatewayServerError,
    ),
    Case(
        "503: not processed (the gateway's 30 s) is retried",
        fixed(batch()),
        [Answer(503, "503 Service Unavailable")],
        [BOTH],
        error=GatewayServerError,
    ),
    Case(
        "502 from a proxy",
        fixed(batch()),
        [Answer(502, "Bad Gateway")],
        [BOTH],
        error=GatewayServerError,
    ),
    Case(
        "429 with Retry-After",
        fixed(batch()),
        [Answer(429, "", {"Retry-After": "7"})],
        [BOTH],
        error=GatewayThrottled,
    ),
    Case(
        "404: a wrong URL pauses",
        fixed(batch()),
        [Answer(404, "Not Found")],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "an unreadable 200 may hide an acceptance",
        fixed(batch()),
        [Answer(200, "<html>")],
        [BOTH],
        error=GatewayProtocolError,
    ),
    Case(
        "an OK for another customid cannot be trusted",
        fixed(batch()),
        [ok("5001", N0, N1, cid="42")],
        [BOTH],
        error=GatewayProtocolError,
    ),
    Case(
        "lookup: the batch's request has one of the two",
        fixed(batch()),
        [LISTED, Answer(200, f"{N1}|2|1|2\n")],
        [request_list(), request_status("5001")],
        {"c-1": A.ALREADY_DONE},
        lookup=True,
        check=provider_ids({"c-1": f"{CID}:{N1}"}),
    ),
    Case(
        "lookup: a number its request found invalid was taken and refused",
        fixed(batch()),
        [LISTED, Answer(200, f"{N0}|4|0|0\n{N1}|2|1|0\n")],
        [request_list(), request_status("5001")],
        {"c-0": A.PERMANENT, "c-1": A.ALREADY_DONE},
        lookup=True,
    ),
    Case(
        "lookup: no request of the batch, nothing taken",
        fixed(batch()),
        [Answer(200, "5002|high|2030-01-20 10:00:02|2030-01-22 14:00:00|Shop|0|2\n")],
        [request_list()],
        {},
        lookup=True,
    ),
    Case(
        "lookup: its request does not list the numbers",
        fixed(batch()),
        [LISTED, Answer(200, "")],
        [request_list(), request_status("5001")],
        {},
        lookup=True,
    ),
    Case(
        "lookup: bad credentials",
        fixed(batch()),
        [err("103", 401)],
        [request_list()],
        error=GatewayAuthError,
        lookup=True,
    ),
    Case(
        "lookup: an unreadable request list raises (never guesses)",
        fixed(batch()),
        [Answer(200, "5001|high|garbage")],
        [request_list()],
        error=GatewayProtocolError,
        lookup=True,
    ),
]
