"""SmsManager sender: the HTTP API's `/Send` (one text), the XML API's `Send` (several texts);
`lookup` through `/RequestList` and `/RequestStatus`.

What the public documentation says (read for this module; the numbered sources are below)
-------------------------------------------------------------------------------------------
* `https://http-api.smsmanager.cz/Send` [1]: parameters `apikey` (required, from the web
  administration), `number` (required; "may hold several numbers separated by a semicolon
  or a comma"; international digits, "+" or "00" allowed, 9-digit numbers are taken as
  Czech and get 420 [1][4]), `message` (required), `gateway` (high | economy | lowcost |
  direct [5][6]; high by default [4]), `sender` (optional; at most 11 characters [4], set it up
  in the web interface first or the answer is 203 [seed]), `customid` (optional: our id for
  the *request*, digits only, 1-10 of them [5][6]; the XML example uses 987654321 [2]),
  `time` (scheduled sending) and `expiration` (`YYYY-MM-DDTHH:MM:SS` [5][6]).  The page
  lists "unlimited recipients of one message" and "bulk sending in one request" [1].  The
  public clients call it with GET parameters [5][8] or a POST form [3]; we POST the form (a
  URL with a thousand numbers and a long text is too long for a GET).
* The answer is one line of text: `OK|<requestId>|<numbers, comma-separated>[|<customid>]`
  (HTTP 200; e.g. `OK|1598456|420605348034` [8]; the customid comes back as a 4th field
  [5]), or `ERROR|<code>[|<text>]` with the HTTP status of the code table [seed][7]
  (older answers carried `ERROR|103` with HTTP 200 [8]).  The numbers listed are the
  ones the request was accepted for; a number the gateway found invalid is not listed,
  and when none is valid the whole request is `ERROR|201`.
* `https://xml-api.smsmanager.cz/Send` [2]: "bulk sending of messages in one request"; the
  XML document is the POST field `XMLDATA` [2], form-encoded [6][9] (one client posts it as
  multipart [12]).  The document [2][6][9][12][13][14]:
      <RequestDocument>
        <RequestHeader><Apikey>KEY</Apikey></RequestHeader>
        <RequestList>
          <Request Type="high" CustomID="987654321" Sender="..." Expiration="...">
            <Message Type="Text">text</Message>
            <NumbersList><Number>420...</Number>...</NumbersList>
          </Request>
          ... (a request per message text)
        </RequestList>
      </RequestDocument>
  The API key in the header [12][13] (older clients: `Username` and a SHA-1 `Password`
  [6][9]); per request its gateway `Type` (high | economy | lowcost [14], direct [6]) and
  the optional `CustomID` [2][6], `Sender`, `Time` and `Expiration` [6][14].  The answer
  [6][9][12][13]:
      <Result>
        <ResultHeader>...</ResultHeader>
        <Response Type="OK" ID="0">...</Response>
        <ResponseRequestList>
          <ResponseRequest SmsCount="..." SmsPrice="...">
            <RequestID>...</RequestID><CustomID>...</CustomID>
            <ResponseNumbersList><Number>...</Number>...</ResponseNumbersList>
          </ResponseRequest>
          ... (a request id per request, with the numbers it was accepted for)
        </ResponseRequestList>
      </Result>
  An error is `<Response Type="ERROR" ID="<code>">`, answered with a status other than 200
  [6][12], its code one of the seed's table (101: "request data missing: no XMLDATA
  parameter of the XML API" [seed]).  Nothing says in what order the requests are
  answered, whether the requests of one document may share a CustomID, or what a document
  gets when one of its requests has no valid number or a bad text (see Design).
* `/RequestList?apikey=` [5][9]: one line per request of the account,
  `requestId|gateway|time|expiration|sender|remaining recipients|request state`
  (times `YYYY-MM-DD HH:MM:SS`; no customid in it).  `/RequestStatus?apikey=&requestid=`
  [5][9]: one line per number of that request, `number|request state|expected receipts|
  receipt state` (states of the seed's tables).  `/GetUserInfo`: `credit|sender|gateway`.
* The seed (/work/shared/seeds/smsmanager-return-codes.txt, = smsmanager.cz/api/codes):
  error codes 101-109, 201-203 (HTTP 4xx, never repeat), 9xx (HTTP 500, repeat) and a 503;
  "most requests take under a second; set your timeout to 30 s; after 30 s the server
  answers 503 Service Unavailable and such a request will not be processed".
* The newer JSON API v2 (api.smsmngr.com/v2, [10][11]) says the http-api and xml-api are
  deprecated; it has per-message ids, tags and a per-message status query.  This module
  implements the http-api and the xml-api the configuration points at
  (SMSMANAGER_BASE_URL, SMSMANAGER_XML_URL: `Settings.smsmanager_xml_base_url`).

[1] https://smsmanager.cz/api/http  [2] https://smsmanager.cz/api/xml/
[3] github.com/jakubenglicky/sms-manager src/SmsManager/Http/Client.php (POST form_params)
[4] github.com/caronc/apprise apprise/plugins/NotifySMSManager.py (sender <= 11 chars,
    9-digit numbers get 420)  [5] github.com/ridercz/SmsManager-API (SmsManagerContext.cs,
    SmsManagerResult*.cs, _Enums.cs)  [6] github.com/michalpospiech/nette-smsmanager SMS.php
    (customid `^\\d{1,10}$`, time/expiration format; the XML document, its answer, the
    error code from `Response@ID` of a non-200 answer)  [7] github.com/jakubenglicky/sms-manager
    src/SmsManager/Exceptions/Processor.php (code -> HTTP status)
[8] github.com/PrimeHammer/sms_manager fixtures/vcr_cassettes/valid.yml (real answers)
[9] github.com/kixorz/SMSManager SMSManager.php (requestList, requestStatus, send: the XML
    document and answer), HTTPRequest.php (the `XMLDATA` form field)
[10] https://api-ref.smsmanager.com/openapi/cs/json/jsonapi_v2/sending
[11] github.com/smsmngr/smsmanager-skills (endpoints references)
[12] github.com/simPod/SMSManager src/ApiSmsManager.php (`Apikey` header, `ResponseRequest`
     with RequestID, CustomID, SmsCount, SmsPrice; a 4xx/5xx answer is an XML document)
[13] a public Kotlin client, package cz.lukkin.kotlinproject.gateway.smsManager
     (SmsManagerRequest.kt: `RequestHeader/Apikey`; SmsManagerResponse.kt: the root
     `Result`, `ResultHeader`, `Response` with Type OK | ERROR and ID, `ResponseRequestList`)
[14] github.com/hrubysoftware/smsmanager-java-library model/Request.java (`Request`
     attributes Type, CustomID, Sender, Time, Expiration)

Design
------
* **One request per batch.**  A batch with a shared text is one HTTP `/Send` with every
  number.  A batch of several texts (personalised) is one XML `Send`: a `<Request>` per
  distinct text (`xmlapi.document`), a thousand recipients in one round trip instead of
  one per text.  Each `<ResponseRequest>` is matched to our destinations by its numbers
  (numbers are unique within a batch; the order of the answer is not documented), and an
  accepted destination keeps its request's id as `Result.poll_ref` (over HTTP too): the
  id `/RequestStatus` is asked by later.
* **A document refused for its contents.**  201 (no valid number) or 202 (a text missing
  or too long) refuses the whole document, and took nothing, without saying which
  request was at fault.  Its texts are then sent one HTTP `/Send` each, one after the
  other inside ONE time budget (`http_timeout` from the start of `send`), so that the
  whole of `send` is over before the worker's claims can settle (see workers.claims); each
  answer tells its own request apart.  A text whose request cannot start with at least
  `base.budget_s` left is not sent now (THROTTLED "NOT_SENT_IN_TIME": the worker defers
  it, not counted as an attempt).  Any other outcome is the whole document's, with the
  HTTP API's meaning (below).
* **Ids.**  Our messageIds do not fit `customid` (digits, one per request): every request
  of a batch (every `<Request>` of its document too) carries `ids.custom_id(batch)` (the
  worker's request number), and a message is
  `"{customid}:{number}"` (`Result.provider_id`; the spec says `own_ids=True`).  See
  `providers.smsmanager.ids` for the collision odds.
* **Answers.**  OK: every number listed is ACCEPTED; a number of the request not listed
  was refused by the gateway (PERMANENT, `NOT_ACCEPTED`, not suppressed); an OK whose
  echoed customid is not ours, or that lists no number, cannot be trusted
  (GatewayProtocolError: maybe sent).  ERROR: the code table through `http.error_for`:
  201 (no valid number) fails the request's destinations (GatewayRequestError with their
  messageIds), as does 202 (text missing or too long) when the text is one destination's
  own; 202 for a shared text and 101/102/109 pause; 103 is GatewayAuthError; 104, 105 and
  203 pause (GatewayMisconfigured); 9xx and 503 are GatewayServerError (retried).  The XML
  answer is read strictly (`xmlapi`: anything we rely on missing, a number or a customid
  not ours, fewer or more requests than sent: GatewayProtocolError, maybe sent); its error
  code goes through the same table, every text of a document being destinations' own.
* **Timeouts.**  HTTP 503 is the gateway's own "not processed in 30 s": nothing was taken
  (GatewayServerError, not maybe-sent, retried at once).  Our own client timeout is
  different: the gateway's 30 s start when it has the request, ours before we send it,
  and its answer still has to travel, so when our timer fires it may have accepted the
  request a moment earlier (or the answer was lost on the way): GatewayTimeout stays
  "maybe sent" and the worker asks `lookup` before anything is sent again.  With
  SMS_HTTP_TIMEOUT above 30 s (35 s is plenty) a slow gateway answers 503 before our timer
  fires, so most slow requests end as a definite "not processed" instead of an unknown.
* **lookup.**  The only per-number view of the http-api is `/RequestStatus`, which wants
  the requestId that a lost answer carried.  So `lookup` reads `/RequestList`, keeps the
  requests with the batch's sender and the batch's `expiration` (we always send the
  batch's own validity end, to the second, in Prague time: the same value on every
  attempt), newest first, and reads `/RequestStatus` of each (LOOKUP_CONCURRENCY at a
  time) until every destination is found or the list is exhausted.  A destination whose
  number is in one of them was taken: ALREADY_DONE (PERMANENT when that number's request
  state is 4 invalid, 6 cancelled or 7 rejected).  Any line it cannot read, or any error
  answer, raises: the worker then asks again later instead of guessing.  What it cannot
  do: prove that the gateway did NOT take a destination.  `/RequestList`'s field is
  "remaining recipients", and the public clients model it as the requests still queued
  [9]: at its least favourable reading (our sandbox's) a request leaves the list as soon
  as it is processed, so a request that went out is not found, and `/RequestStatus` may
  list no number (the C# client [5] disabled its call in 2018: "always returns empty
  page").  "Nothing found" is therefore no proof (`Profile.lookup_proves_absence` is
  False: the worker holds such a destination as unknown instead of sending it again);
  what is found is proof of taking.  A false "taken"
  needs another request with the same sender, the same expiration to the second and the
  same number (two campaigns imported in the same second).  Its cost is one
  `/RequestStatus` per request of the campaign (a personalised campaign has one request
  per message): acceptable for the rare unknown outcome, and the reason to move to the
  JSON API v2 (per-message ids and tags) when possible.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from urllib.parse import urlencode

import aiohttp

from config.settings import Settings
from core.batch import Batch, Destination
from core.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayThrottled,
)
from providers import http
from providers.base import NOT_IN_TIME, Action, Result, Verdict, budget_s
from providers.classify import retry_after_seconds, to_verdict, unknown_verdict
from providers.smsmanager import codes, xmlapi
from providers.smsmanager.ids import custom_id, normalise_number, provider_id

SEND_PATH = "/Send"
LIST_PATH = "/RequestList"
STATUS_PATH = "/RequestStatus"
FORM_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    "Accept": "text/plain",
}
TEXT_HEADERS = {"Accept": "text/plain"}
XML_FORM_HEADERS = {"Content-Type": FORM_HEADERS["Content-Type"], "Accept": "application/xml"}
LOOKUP_CONCURRENCY = 8  # /RequestStatus requests at once during a lookup
TAKEN_REJECTED = frozenset({4, 6, 7})  # request states: invalid, cancelled, rejected
BODY_CHARS = 500

try:
    from zoneinfo import ZoneInfo

    PRAGUE: tzinfo = ZoneInfo("Europe/Prague")
except Exception:  # pragma: no cover - no tz database: CET, never later than Prague time
    PRAGUE = timezone(timedelta(hours=1))

__all__ = [
    "SmsManagerSender",
    "custom_id",
    "expiration",
    "normalise_number",
    "parse_send",
    "parse_xml_send",
]


def expiration(expires_at_ms: int) -> str:
    """The batch's validity end as SmsManager's `expiration`: Prague wall time, seconds
    rounded down (never later than ours), `YYYY-MM-DDTHH:MM:SS`."""
    return datetime.fromtimestamp(expires_at_ms // 1000, PRAGUE).strftime("%Y-%m-%dT%H:%M:%S")


class SmsManagerSender:
    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.base = settings.smsmanager_base_url.rstrip("/")
        self.xml_base = settings.smsmanager_xml_base_url.rstrip("/")
        self.key = settings.smsmanager_api_key
        self.timeout_s = settings.http_timeout

    # ------------------------------------------------------------------ send

    def form(self, batch: Batch, text: str, dests: Sequence[Destination]) -> bytes:
        """The `/Send` form for these destinations of `batch` with this text."""
        fields = [
            ("apikey", self.key),
            ("number", ",".join(d.to for d in dests)),
            ("message", text),
            ("gateway", self.settings.smsmanager_gateway),
        ]
        if batch.sender:
            fields.append(("sender", batch.sender))
        fields += [("customid", custom_id(batch)), ("expiration", expiration(batch.expires_at))]
        return urlencode(fields).encode("ascii")

    def provider_ids(self, batch: Batch) -> dict[str, str]:
        cid = custom_id(batch)
        return {d.message_id: provider_id(cid, d.to) for d in batch.destinations}

    def xml_form(self, batch: Batch, groups: dict[str, list[Destination]]) -> bytes:
        """The XML `Send` form of `batch`: its document, a `<Request>` per text."""
        attributes = {"Type": self.settings.smsmanager_gateway, "CustomID": custom_id(batch)}
        if batch.sender:
            attributes["Sender"] = batch.sender
        attributes["Expiration"] = expiration(batch.expires_at)
        parts = [xmlapi.Part(text, tuple(d.to for d in dests)) for text, dests in groups.items()]
        document = xmlapi.document(self.key, attributes, parts)
        return urlencode([(xmlapi.FIELD, document)]).encode("ascii")

    async def send(self, batch: Batch) -> list[Result]:
        """A shared text: one `/Send`.  Several texts: one XML `Send`, or, when that
        document is refused for one of its requests, one `/Send` per text, one after the
        other within one time budget.  Per-destination results, or a GatewayError when
        the batch's only request (or every request, none maybe taken) failed as a whole."""
        groups = by_text(batch)
        deadline = time.monotonic() + self.timeout_s
        if len(groups) == 1:
            return await self._send_each(batch, groups, deadline, first_free=True)
        try:
            return await self._send_xml(batch, groups)
        except GatewayRequestError as exc:
            if not exc.message_ids:
                raise
            # refused for a number or a text of one of its requests, nothing taken: each
            # text alone tells which
        return await self._send_each(batch, groups, deadline, first_free=False)

    async def _send_xml(self, batch: Batch, groups: dict[str, list[Destination]]) -> list[Result]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        url = self.xml_base + xmlapi.SEND_PATH
        body = self.xml_form(batch, groups)
        answer = await http.request(
            self.session, "POST", url, timeout=timeout, headers=XML_FORM_HEADERS, data=body
        )
        return parse_xml_send(answer, batch.destinations, len(groups), custom_id(batch))

    async def _send_each(
        self, batch: Batch, groups: dict[str, list[Destination]], deadline: float, first_free: bool
    ) -> list[Result]:
        """One `/Send` per text, one after the other until `deadline`; `first_free`: the
        first starts whatever the time left (nothing was asked before it)."""
        budget = budget_s(self.timeout_s)
        outcomes: list[list[Result] | GatewayError | None] = []
        for text, dests in groups.items():
            left = deadline - time.monotonic()
            if (outcomes or not first_free) and left < budget:
                outcomes.append(None)  # not started: no time left in this run
                continue
            try:
                outcomes.append(await self._send_one(batch, text, dests, left))
            except GatewayError as exc:
                outcomes.append(exc)
        return combine(list(groups.values()), outcomes)

    async def _send_one(
        self, batch: Batch, text: str, dests: list[Destination], seconds: float
    ) -> list[Result]:
        timeout = aiohttp.ClientTimeout(total=max(0.001, seconds))
        url, body = self.base + SEND_PATH, self.form(batch, text, dests)
        answer = await http.request(
            self.session, "POST", url, timeout=timeout, headers=FORM_HEADERS, data=body
        )
        own_text = batch.text is None
        return parse_send(answer, dests, custom_id(batch), own_text)

    # ------------------------------------------------------------------ lookup

    async def lookup(self, batch: Batch) -> dict[str, Result]:
        """What the gateway took of these destinations, by messageId (absent: not found,
        which proves nothing, see above): the batch's requests in `/RequestList`, their
        numbers in `/RequestStatus`."""
        wanted: dict[str, Destination] = {}
        for destination in batch.destinations:
            wanted.setdefault(normalise_number(destination.to), destination)
        exp, sender = expiration(batch.expires_at).replace("T", " "), batch.sender
        rows = [
            row
            for row in await self._request_list()
            if row.expiration == exp and (not sender or row.sender == sender)
        ]
        found: dict[str, Result] = {}
        cid = custom_id(batch)
        for i in range(0, len(rows), LOOKUP_CONCURRENCY):
            if len(found) == len(batch.destinations):
                break
            wave = rows[i : i + LOOKUP_CONCURRENCY]
            lines = await asyncio.gather(*(self._request_status(row.request_id) for row in wave))
            for row, numbers in zip(wave, lines, strict=True):
                for number, state in numbers:
                    d = wanted.get(number)
                    if d is None:
                        continue
                    r = taken(d, number, state, row.request_id, cid)
                    old = found.get(d.message_id)
                    if old is None or (
                        old.verdict.action is not Action.ALREADY_DONE
                        and r.verdict.action is Action.ALREADY_DONE
                    ):
                        found[d.message_id] = r
        return found

    async def _get(self, path: str, **params: str) -> http.Answer:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        query = {"apikey": self.key, **params}
        answer = await http.request(
            self.session,
            "GET",
            self.base + path,
            timeout=timeout,
            headers=TEXT_HEADERS,
            params=query,
        )
        if not 200 <= answer.status < 300 or _text(answer.body).startswith("ERROR"):
            raise whole_request_error(answer, text_error_code(answer), ())
        return answer

    async def _request_list(self) -> list[ListRow]:
        return parse_request_list((await self._get(LIST_PATH)).body)

    async def _request_status(self, request_id: str) -> list[tuple[str, int]]:
        return parse_request_status((await self._get(STATUS_PATH, requestid=request_id)).body)


# ---------------------------------------------------------------------- answers


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()


def _snippet(raw: bytes) -> str:
    return raw[:BODY_CHARS].decode("utf-8", "replace")


ACCEPTED = "ACCEPTED"
NOT_ACCEPTED = Verdict(
    Action.PERMANENT,
    "201",
    "NOT_ACCEPTED",
    "the gateway accepted the request without this number (invalid)",
    permanent=True,
)


def by_text(batch: Batch) -> dict[str, list[Destination]]:
    """The batch's destinations by their text, in the order the texts first come."""
    groups: dict[str, list[Destination]] = {}
    for d in batch.destinations:
        groups.setdefault(batch.text_of(d), []).append(d)
    return groups


def parse_send(
    answer: http.Answer, dests: Sequence[Destination], cid: str, own_text: bool = False
) -> list[Result]:
    """One `/Send` answer -> a result per destination, or the whole request's GatewayError.

    `own_text`: the text is these destinations' own (a 202 is then about them only)."""
    text = _text(answer.body)
    if 200 <= answer.status < 300 and text.startswith("OK"):
        return _accepted(text, answer.body, dests, cid)
    ids = tuple(d.message_id for d in dests)
    if 200 <= answer.status < 300 and not text.startswith("ERROR"):
        raise GatewayProtocolError(
            f"unreadable /Send answer: {text[:80]!r}",
            status=answer.status,
            body=_snippet(answer.body),
        )
    raise whole_request_error(answer, text_error_code(answer), ids, own_text)


def _accepted(text: str, raw: bytes, dests: Sequence[Destination], cid: str) -> list[Result]:
    fields = text.splitlines()[0].split("|")
    numbers = (
        {normalise_number(n) for n in re.split(r"[,;]", fields[2]) if n.strip()}
        if (len(fields) >= 3)
        else set()
    )
    request_id = fields[1].strip() if len(fields) >= 2 else ""
    echoed = fields[3].strip() if len(fields) >= 4 else ""
    if fields[0] != "OK" or not request_id or not numbers or (echoed and echoed != cid):
        raise GatewayProtocolError(
            f"unreadable OK answer: {text[:80]!r} (customid {cid})", body=_snippet(raw)
        )
    return results_of(dests, dict.fromkeys(numbers, request_id), cid)


def parse_xml_send(
    answer: http.Answer, dests: Sequence[Destination], requests: int, cid: str
) -> list[Result]:
    """One XML `Send` answer to a document of `requests` requests -> a result per
    destination, or the whole document's GatewayError."""
    code = xmlapi.error_code(answer.body)
    if code is not None or not 200 <= answer.status < 300:
        ids = tuple(d.message_id for d in dests)
        raise whole_request_error(answer, code, ids, own_text=True)
    ours = {normalise_number(d.to) for d in dests}
    taken_by: dict[str, str] = {}  # number -> the id of the request that took it
    for request in xmlapi.read_ok(answer.body, requests, cid):
        for raw_number in request.numbers:
            number = normalise_number(raw_number)
            if number not in ours:
                raise GatewayProtocolError(
                    f"XML /Send answer: request {request.request_id} lists {raw_number!r}, "
                    "not a number of ours",
                    body=_snippet(answer.body),
                )
            taken_by.setdefault(number, request.request_id)
    return results_of(dests, taken_by, cid)


def results_of(dests: Sequence[Destination], taken_by: dict[str, str], cid: str) -> list[Result]:
    """A destination whose number a request of the answer lists is ACCEPTED (its poll ref
    that request's id); one it does not list was refused by the gateway (invalid)."""
    out = []
    for d in dests:
        request_id = taken_by.get(normalise_number(d.to))
        if request_id is None:
            out.append(Result(d.message_id, d.to, NOT_ACCEPTED))
            continue
        ok = Verdict(Action.ACCEPTED, "OK", ACCEPTED, f"request {request_id}")
        mine = provider_id(cid, d.to)
        out.append(Result(d.message_id, d.to, ok, provider_id=mine, poll_ref=request_id))
    return out


ERROR_LINE = re.compile(r"ERROR\|\s*(\d{1,4})")
IDS_CODES = frozenset({"201"})  # about the request's numbers: fail those destinations


def text_error_code(answer: http.Answer) -> str | None:
    """The code of an `ERROR|<code>` line, else None."""
    m = ERROR_LINE.match(_text(answer.body))
    return m.group(1) if m else None


def answer_verdict(answer: http.Answer, code: str | None) -> tuple[Verdict, int]:
    """The verdict of a whole-request refusal (with its error code, when the answer has
    one) and the HTTP status it stands for (a code answered with HTTP 200, as older
    answers were, takes its documented status)."""
    status = answer.status
    if code is not None:
        verdict = codes.classify_error(code, status)
        row = codes.row_of(code)
        if 200 <= status < 300 and row is not None and row.http_status:
            status = row.http_status
    else:
        verdict = status_verdict(status)
    if verdict.action is Action.THROTTLED or status == 429:
        wait = retry_after_seconds(answer.headers.get("Retry-After"))
        verdict = Verdict(
            Action.THROTTLED,
            verdict.code or "429",
            verdict.name or "THROTTLED",
            verdict.description,
            retry_after=wait,
        )
    return verdict, status


def status_verdict(status: int) -> Verdict:
    """An answer without an error code: by its HTTP status."""
    if status == 503:
        return to_verdict(codes.ERRORS["503"])
    if status == 500:
        return to_verdict(codes.ERRORS[codes.SERVER_ERROR], code="500")
    if status == 401:
        return to_verdict(codes.ERRORS["103"], code="401")
    if status == 402:
        return to_verdict(codes.ERRORS["105"], code="402")
    if status == 429:
        return Verdict(Action.THROTTLED, "429", "THROTTLED", "Too many requests")
    if 400 <= status < 500:
        return unknown_verdict(Action.PERMANENT, str(status), f"HTTP_{status}", f"HTTP {status}")
    return unknown_verdict(Action.RETRY, str(status), f"HTTP_{status}", f"HTTP {status}")


def whole_request_error(
    answer: http.Answer, code: str | None, ids: tuple[str, ...], own_text: bool = False
) -> GatewayError:
    """The exception of a refused request: `ids` are its destinations (a 201, or a 202 for
    a text of their own, is about them only)."""
    verdict, status = answer_verdict(answer, code)
    about = ids if verdict.code in IDS_CODES or (verdict.code == "202" and own_text) else ()
    return http.error_for(verdict, status, answer.body, about)


# ---------------------------------------------------------------------- several requests


def combine(
    groups: list[list[Destination]], outcomes: list[list[Result] | GatewayError | None]
) -> list[Result]:
    """The results of a batch's requests.  When nothing can have been taken (one request,
    or every request refused as a whole and none maybe taken), the first request's
    error is the batch's; otherwise each request's own outcome, destination by
    destination (a maybe-taken request's destinations are left out: unknown)."""
    errors = [o for o in outcomes if isinstance(o, GatewayError)]
    if len(outcomes) == 1 and errors:
        raise errors[0]
    if errors and len(errors) == len(outcomes) and not any(e.maybe_sent for e in errors):
        raise _whole(errors)
    results: list[Result] = []
    for dests, outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, list):
            results += outcome
        elif outcome is None:
            results += [Result(d.message_id, d.to, NOT_IN_TIME) for d in dests]
        elif not outcome.maybe_sent:
            results += _refused(outcome, dests)
    return results


def _whole(errors: list[GatewayError]) -> GatewayError:
    """Every request refused: a fatal refusal wins, then those naming destinations (their
    messageIds together), then the first."""
    for e in errors:
        if e.fatal:
            return e
    named = [e for e in errors if isinstance(e, GatewayRequestError) and e.message_ids]
    if named:
        ids = tuple(m for e in named for m in e.message_ids)
        first = named[0]
        return GatewayRequestError(
            str(first), message_ids=ids, status=first.status, code=first.code, body=first.body
        )
    return errors[0]


def _refused(exc: GatewayError, dests: list[Destination]) -> list[Result]:
    """A refused request's destinations when other requests of the batch went through."""
    if exc.fatal:
        action = Action.FATAL
    elif isinstance(exc, GatewayRequestError):
        action = Action.PERMANENT
    elif isinstance(exc, GatewayThrottled):
        action = Action.THROTTLED
    else:
        action = Action.RETRY
    v = Verdict(
        action,
        exc.code or str(exc.status or ""),
        type(exc).__name__,
        str(exc)[:300],
        permanent=action is Action.PERMANENT,
        retry_after=exc.retry_after,
    )
    named = set(exc.message_ids) if isinstance(exc, GatewayRequestError) else set()
    retry = Verdict(Action.RETRY, v.code, v.name, v.description)
    return [
        Result(d.message_id, d.to, v if not named or d.message_id in named else retry)
        for d in dests
    ]


# ---------------------------------------------------------------------- lookup answers


@dataclass(frozen=True, slots=True)
class ListRow:
    """One `/RequestList` line."""

    request_id: str
    gateway: str
    time: str
    expiration: str
    sender: str
    remaining: str
    state: str


def parse_request_list(raw: bytes) -> list[ListRow]:
    """`requestId|gateway|time|expiration|sender|remaining|state` lines, newest first;
    a line that cannot be read raises (a request missed is a message sent twice)."""
    rows = []
    for line in _text(raw).splitlines():
        if not line.strip():
            continue
        f = [x.strip() for x in line.split("|")]
        if len(f) < 7 or not f[0].isdigit():
            raise GatewayProtocolError(
                f"unreadable /RequestList line: {line[:80]!r}", body=_snippet(raw)
            )
        rows.append(ListRow(f[0], f[1], f[2], f[3].replace("T", " "), f[4], f[5], f[6]))
    return sorted(rows, key=lambda r: (r.time, int(r.request_id)), reverse=True)


def parse_request_status(raw: bytes) -> list[tuple[str, int]]:
    """`number|state|expected receipts|receipt state` lines -> (number, request state)."""
    out = []
    for line in _text(raw).splitlines():
        if not line.strip():
            continue
        f = [x.strip() for x in line.split("|")]
        if len(f) < 2 or not f[1].isdigit() or not normalise_number(f[0]):
            raise GatewayProtocolError(
                f"unreadable /RequestStatus line: {line[:80]!r}", body=_snippet(raw)
            )
        out.append((normalise_number(f[0]), int(f[1])))
    return out


def taken(d: Destination, number: str, state: int, request_id: str, cid: str) -> Result:
    """A destination found in one of the batch's requests."""
    row = codes.REQUEST_STATES.get(state)
    name = row.name.upper() if row else f"STATE_{state}"
    if state in TAKEN_REJECTED:
        v = Verdict(
            Action.PERMANENT,
            str(state),
            name,
            f"request {request_id} has it, {name.lower()}",
            permanent=True,
        )
    else:
        v = Verdict(
            Action.ALREADY_DONE, str(state), name, f"the gateway's request {request_id} has it"
        )
    mine = provider_id(cid, number)
    return Result(d.message_id, d.to, v, provider_id=mine, poll_ref=request_id)
