"""SmsManager: POST /Send, GET /RequestList and /RequestStatus, per its HTTP API documents.

The batch's validity end is fixed (2030-01-22 12:00:00 UTC, 13:00:00 in Prague), so the
`expiration` of every request is known; the customid of bulkId `c-b0` is written out
here on purpose: it must never change (messages in flight are known by it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from config.settings import Settings
from core.batch import Batch
from core.errors import (
    GatewayAuthError,
    GatewayMisconfigured,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from providers.base import Action
from tests.unit.contracts.harness import Answer, Case, Request, batch

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
    form = {"apikey": KEY, "number": numbers, "message": text, "gateway": "high",
            "sender": "Shop", "customid": CID, "expiration": EXP}  # fmt: skip
    return Request("POST", "/Send", form=form, headers={"Content-Type": FORM})


BOTH = send(f"{N0},{N1}")


def ok(request_id: str, *numbers: str, cid: str = CID) -> Answer:
    return Answer(200, f"OK|{request_id}|{','.join(numbers)}|{cid}\n",
                  {"Content-Type": "text/plain"})  # fmt: skip


def err(code: str, status: int, text: str = "") -> Answer:
    return Answer(status, f"ERROR|{code}|{text}", {"Content-Type": "text/plain"})


def request_list() -> Request:
    return Request("GET", "/RequestList", query={"apikey": KEY})


def request_status(request_id: str) -> Request:
    return Request("GET", "/RequestStatus", query={"apikey": KEY, "requestid": request_id})


# requests of the account: ours (Shop, our expiration), one of another campaign (another
# validity end) and one of another sender with our validity end: only ours is asked about
LISTED = Answer(200, "\n".join([
    f"5001|high|2030-01-20 10:00:01|{EXP_LISTED}|Shop|0|2",
    "5002|high|2030-01-20 10:00:02|2030-01-22 14:00:00|Shop|0|2",
    f"5003|economy|2030-01-20 10:00:03|{EXP_LISTED}|Alerts|0|2",
]))  # fmt: skip


def provider_ids(expected: dict[str, str]) -> Any:
    def check(results: Any) -> None:
        items = results.values() if isinstance(results, dict) else results
        assert {r.message_id: r.provider_id for r in items} == expected

    return check


CASES = [
    Case("shared text: one request, every number accepted", fixed(batch()),
         [ok("5001", N0, N1)], [BOTH], {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
         check=provider_ids({"c-0": f"{CID}:{N0}", "c-1": f"{CID}:{N1}"})),
    Case("a number the OK answer leaves out was refused (invalid)", fixed(batch()),
         [ok("5001", N0)], [BOTH], {"c-0": A.ACCEPTED, "c-1": A.PERMANENT}),
    Case("numbers in the answer as the gateway writes them (+, 00)", fixed(batch()),
         [ok("5001", "+" + N0, "00" + N1)], [BOTH], {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED}),
    Case("personalised texts: one request per text, one after the other",
         fixed(batch(texts=["Hi Ann", "Hi Bob"])), [ok("5001", N0), ok("5002", N1)],
         [send(N0, "Hi Ann"), send(N1, "Hi Bob")], {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED}),
    Case("personalised texts that are the same share a request",
         fixed(batch(texts=["Hi", "Hi"])), [ok("5001", N0, N1)], [BOTH],
         {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED}),
    Case("personalised: a text refused (202) fails alone, the other is sent",
         fixed(batch(texts=["Hi Ann", "Hi Bob"])), [err("202", 400), ok("5002", N1)],
         [send(N0, "Hi Ann"), send(N1, "Hi Bob")], {"c-0": A.PERMANENT, "c-1": A.ACCEPTED}),
    Case("personalised: an unreadable answer leaves its destination unknown",
         fixed(batch(texts=["Hi Ann", "Hi Bob"])), [ok("5001", N0), Answer(200, "<html>")],
         [send(N0, "Hi Ann"), send(N1, "Hi Bob")], {"c-0": A.ACCEPTED}),
    Case("personalised: every text refused (202) fails them all",
         fixed(batch(texts=["Hi Ann", "Hi Bob"])), [err("202", 400), err("202", 400)],
         [send(N0, "Hi Ann"), send(N1, "Hi Bob")], error=GatewayRequestError),
    Case("personalised: a fatal refusal pauses the rest too",
         fixed(batch(texts=["Hi Ann", "Hi Bob"])), [ok("5001", N0), err("105", 402)],
         [send(N0, "Hi Ann"), send(N1, "Hi Bob")], {"c-0": A.ACCEPTED, "c-1": A.FATAL}),
    Case("103 bad credentials (401)", fixed(batch()), [err("103", 401)], [BOTH],
         error=GatewayAuthError),
    Case("103 answered with HTTP 200, as older answers were", fixed(batch()),
         [err("103", 200)], [BOTH], error=GatewayAuthError),
    Case("105 no credit (402) pauses", fixed(batch()), [err("105", 402)], [BOTH],
         error=GatewayMisconfigured),
    Case("104 invalid gateway parameter pauses", fixed(batch()), [err("104", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("203 sender not set up pauses", fixed(batch()), [err("203", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("101 no request data pauses", fixed(batch()), [err("101", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("102 data in a wrong format pauses", fixed(batch()), [err("102", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("109 required data missing pauses", fixed(batch()), [err("109", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("201 no valid number fails the request's destinations", fixed(batch()),
         [err("201", 400)], [BOTH], error=GatewayRequestError),
    Case("202 a shared text too long pauses", fixed(batch()), [err("202", 400)], [BOTH],
         error=GatewayMisconfigured),
    Case("202 a personalised text too long fails its destinations",
         fixed(batch(texts=["Hi", "Hi"])), [err("202", 400)], [BOTH],
         error=GatewayRequestError),
    Case("9xx system error (500) is retried", fixed(batch()), [err("901", 500)], [BOTH],
         error=GatewayServerError),
    Case("503: not processed (the gateway's 30 s) is retried", fixed(batch()),
         [Answer(503, "503 Service Unavailable")], [BOTH], error=GatewayServerError),
    Case("502 from a proxy", fixed(batch()), [Answer(502, "Bad Gateway")], [BOTH],
         error=GatewayServerError),
    Case("429 with Retry-After", fixed(batch()), [Answer(429, "", {"Retry-After": "7"})],
         [BOTH], error=GatewayThrottled),
    Case("404: a wrong URL pauses", fixed(batch()), [Answer(404, "Not Found")], [BOTH],
         error=GatewayMisconfigured),
    Case("an unreadable 200 may hide an acceptance", fixed(batch()), [Answer(200, "<html>")],
         [BOTH], error=GatewayProtocolError),
    Case("an OK for another customid cannot be trusted", fixed(batch()),
         [ok("5001", N0, N1, cid="42")], [BOTH], error=GatewayProtocolError),
    Case("lookup: the batch's request has one of the two", fixed(batch()),
         [LISTED, Answer(200, f"{N1}|2|1|2\n")], [request_list(), request_status("5001")],
         {"c-1": A.ALREADY_DONE}, lookup=True, check=provider_ids({"c-1": f"{CID}:{N1}"})),
    Case("lookup: a number its request found invalid was taken and refused", fixed(batch()),
         [LISTED, Answer(200, f"{N0}|4|0|0\n{N1}|2|1|0\n")],
         [request_list(), request_status("5001")],
         {"c-0": A.PERMANENT, "c-1": A.ALREADY_DONE}, lookup=True),
    Case("lookup: no request of the batch, nothing taken", fixed(batch()),
         [Answer(200, "5002|high|2030-01-20 10:00:02|2030-01-22 14:00:00|Shop|0|2\n")],
         [request_list()], {}, lookup=True),
    Case("lookup: its request does not list the numbers", fixed(batch()),
         [LISTED, Answer(200, "")], [request_list(), request_status("5001")], {},
         lookup=True),
    Case("lookup: bad credentials", fixed(batch()), [err("103", 401)], [request_list()],
         error=GatewayAuthError, lookup=True),
    Case("lookup: an unreadable request list raises (never guesses)", fixed(batch()),
         [Answer(200, "5001|high|garbage")], [request_list()], error=GatewayProtocolError,
         lookup=True),
]  # fmt: skip
