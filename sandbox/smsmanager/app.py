"""The aiohttp Application of the SmsManager sandbox: the legacy HTTP API and XML API.

Routes (GET parameters or a POST form, `apikey` in either; every answer is text/plain):
    /Send           apikey, number ("," or ";" between numbers), message, gateway
                    (high | economy | lowcost | direct; high by default), sender,
                    customid (1-10 digits), expiration / time (YYYY-MM-DDTHH:MM:SS)
                    -> `OK|<requestId>|<accepted numbers, comma-separated>[|<customid>]`
    /RequestList    -> one line per request STILL QUEUED, newest first:
                    `requestId|gateway|time|expiration|sender|remaining|state`
    /RequestStatus  requestid -> one line per number: `number|state|expected receipts|
                    receipt state` (an unknown id: an empty page); the receipt is the
                    delivery decided when the request was taken (`sandbox.smsmanager.book`)
    /GetUserInfo    -> `credit|default sender|gateway`
Errors: `ERROR|<code>|<text>` with the HTTP status of SmsManager's code table: 101-109 and
201-203 (4xx), 900 (500); a wrong or missing apikey is 103 (401); a request the gateway
could not handle within 30 s is `503 Service Unavailable` and is NOT processed.

The XML API (xml-api.smsmanager.cz/Send) is served on the same server and path: a `/Send`
with an `XMLDATA` field (form or multipart) is the XML API's, whose document carries
its key (`sandbox.smsmanager.documents` reads and writes the documents):
    <RequestDocument><RequestHeader><Apikey>KEY</Apikey></RequestHeader><RequestList>
      <Request Type="high" CustomID="7" Sender="Shop" Expiration="..." Time="...">
        <Message Type="Text">text</Message><NumbersList><Number>...</Number>...
      </NumbersList></Request>...</RequestList></RequestDocument>
    -> <Result><Response Type="OK" ID="0">OK</Response><ResponseRequestList>
         <ResponseRequest SmsCount=".." SmsPrice=".."><RequestID>..</RequestID>
           <CustomID>..</CustomID><ResponseNumbersList><Number>..</Number>...
         </ResponseNumbersList></ResponseRequest>...</ResponseRequestList></Result>
Each `<Request>` is checked as a /Send with the same values (its attributes and
`<Message>` are the parameters gateway, customid, sender, expiration, time and message)
and taken as one: a request id of its own, counted, billed and listed alike.  An error is
`<Result><Response Type="ERROR" ID="code">text</Response></Result>` with the code's HTTP
status; an empty XMLDATA is 101, a document that is not XML (or declares a DTD) 102, a
missing or wrong `RequestHeader/Apikey` 103, no `<Request>` 109.  One server for both
APIs lets one URL point the client at the sandbox (`Settings.smsmanager_xml_base_url`).

Numbers: digits, "+" or "00" in front allowed, spaces and dashes ignored, 9 digits are
Czech (420 in front); 10-15 digits are valid unless they start with one of
`bad_prefixes` or are on the `blacklist`.  Invalid numbers are left out of the OK answer;
none valid is 201.  A text is 1 to 1000 characters (else 202); a sender 1-11 characters
without spaces (else 203).  Each accepted number costs `price_per_part` per part; not
enough `credit` for the request (the whole document) is 105 (402).

Counting: every number accepted is one send of the id `{customid}:{number}` (or
`{requestId}:{number}` without a customid), over either API: `accepted[id]` counts them,
more than 1 is a double send.  SmsManager does not check reused ids; with `dedupe_ids` on,
the sandbox answers a reused id as accepted but neither sends nor bills it again (counted
as seen).  `make_app()` without settings starts with `dedupe_ids` off, as SmsManager
behaves.  `requests` counts `/Send` (HTTP) and `/Send XMLDATA` (XML) apart.

Faults (the shared `FaultSettings`), the same on both APIs: latency and jitter (every
answer of /Send comes after it, a refusal too, and an acceptance is taken before it; a
latency of 30 s or more is the 503 above, nothing accepted), HTTP 500
(error 900) before accepting, 429 bursts (not documented by SmsManager: a sandbox fault),
timeouts after accepting (hang or drop); every `/Send` in flight counts as concurrent.
Control routes: `sandbox.control` (`?final=1`: the delivery outcome decided for each
`{customid}:{number}`, set with the shared `dlr` settings), and
`GET|POST /_sandbox/smsmanager` (`SmsManagerSettings`: `queue_s`).  No delivery callbacks.

Where the documents are ambiguous, the sandbox takes the reading least favourable to a
client (the sources are listed in the dispatcher's providers/smsmanager/sender.py):
* What /RequestList lists.  Its field is "remaining recipients" and the public clients
  (kixorz/SMSManager `remainingRecipients`, ridercz/SmsManager-API) model it as the
  requests still waiting: only a request still queued is listed, and by default
  (`queue_s` 0) a request is processed the moment it is taken, so the list never shows a
  request that was sent.  /RequestStatus still answers by request id (state 0 waiting
  while queued, then 2 sent with receipt 1 delivering until the decided receipt shows:
  `sandbox.smsmanager.book` names the readings of the receipts).
* A reused customid.  customid is "our id for the request", no uniqueness stated: a
  request with a customid seen before is sent and billed again (`dedupe_ids` off).
* The requests of one XML document.  Nothing says whether they may share a CustomID
  (they may: each number is counted under `{customid}:{number}`), in what order they are
  answered (the sandbox answers them in reverse order, so a client matching answers to
  requests by position is caught), or what a document gets when one request has no
  valid number or a bad text (the whole document is refused with that request's code,
  nothing taken, and the answer does not say which request it was).
* The 30 s limit.  Past it the gateway "answers 503 and such a request will not be
  processed" (the seed): a 503 takes nothing, a whole XML document included; a request
  that is taken and then never answered (a timeout fault) stays taken.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from aiohttp import web

from sandbox.app import gc_freezer
from sandbox.control import add_control_routes
from sandbox.faults import Fault, hang_or_drop
from sandbox.gateway import SANDBOX
from sandbox.parts import split
from sandbox.settings import SandboxSettings, update
from sandbox.smsmanager import documents
from sandbox.smsmanager.book import Delivery, Request, SmsManagerSandbox
from sandbox.smsmanager.settings import SmsManagerSettings
from sandbox.state import TimeoutEvent

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024
SEND_ROUTE = "/Send"
XML_SEND_ROUTE = "/Send XMLDATA"  # how /_sandbox/state counts the XML API's sends
SETTINGS_ROUTE = "/_sandbox/smsmanager"
GATEWAYS = frozenset({"high", "economy", "lowcost", "direct"})
DEFAULT_GATEWAY = "high"
DEFAULT_SENDER = "SmsManager"
MAX_TEXT_CHARS = 1000
SERVER_TIMEOUT_S = 30.0  # past this the gateway answers 503 and does not process the request
SENDER = re.compile(r"\S{1,11}")
CUSTOM_ID = re.compile(r"\d{1,10}")
WHEN = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
NUMBER_JUNK = re.compile(r"[\s\-./()]")
PARAMS = web.RequestKey("smsmanager_params", dict)  # read once, by the middleware

# code -> (HTTP status, text) from SmsManager's table of return codes
ERRORS: dict[str, tuple[int, str]] = {
    "101": (400, "Neexistující data požadavku"),
    "102": (400, "Zaslaná data nejsou ve správném formátu"),
    "103": (401, "Neplatné uživatelské jméno nebo heslo"),
    "104": (400, "Neplatný parametr gateway"),
    "105": (402, "Nedostatek kreditu pro prepaid"),
    "109": (400, "Požadavek neobsahuje všechna vyžadovaná data"),
    "201": (400, "Žádná platná telefonní čísla v požadavku"),
    "202": (400, "Text zprávy neexistuje nebo je příliš dlouhý"),
    "203": (400, "Neplatný parametr sender (odesílatele nejprve nastavte ve webovém rozhraní)"),
    "900": (500, "Systémová chyba (informujte se na support@smsmanager.cz)"),
}


def text_response(
    text: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=text, status=status, headers=headers, content_type="text/plain", charset="utf-8"
    )


def error(code: str) -> web.Response:
    status, text = ERRORS[code]
    return text_response(f"ERROR|{code}|{text}", status)


def xml_response(document: str, status: int = 200) -> web.Response:
    return web.Response(
        text=document, status=status, content_type="application/xml", charset="utf-8"
    )


def xml_error(code: str) -> web.Response:
    status, text = ERRORS[code]
    return xml_response(documents.refusal(code, text), status)


def unavailable() -> web.Response:
    return text_response("503 Service Unavailable", 503)


def sandbox_of(request: web.Request) -> SmsManagerSandbox:
    sb = request.app[SANDBOX]
    assert isinstance(sb, SmsManagerSandbox)
    return sb


async def read_params(request: web.Request) -> dict[str, str]:
    """GET parameters and POST form fields (the form wins), first value of each."""
    params: dict[str, str] = {}
    for k, v in request.query.items():
        params.setdefault(k, v)
    if request.method == "POST":
        form = await request.post()
        posted: dict[str, str] = {}
        for k, v in form.items():
            if isinstance(v, str):
                posted.setdefault(k, v)
        params.update(posted)
    return params


def param(params: Mapping[str, str], name: str) -> str | None:
    """A parameter by name, any case (clients spell `requestid` / `requestID`)."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


@web.middleware
async def count_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    sb = sandbox_of(request)
    state = sb.state
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    # /Send requests in flight, from here to the answer, a timeout's hang or a drop
    epoch = state.enter() if route == SEND_ROUTE else None
    try:
        params = await read_params(request)
        request[PARAMS] = params
        xml = route == SEND_ROUTE and documents.FIELD in params
        state.requests[XML_SEND_ROUTE if xml else route] += 1
        if xml:  # the document carries its own key
            response: web.StreamResponse = await send_document(request)
        elif param(params, "apikey") != sb.settings.api_key:
            response = error("103")
        else:
            response = await handler(request)
    finally:
        if epoch is not None:
            state.leave(epoch)
    state.http[response.status] += 1
    return response


# -- numbers -------------------------------------------------------------------------------


def normalise(raw: str) -> str:
    """International digits without "+" / "00"; 9 digits get 420; "" when not a number."""
    text = NUMBER_JUNK.sub("", raw).lstrip("+")
    if text.startswith("00"):
        text = text[2:]
    if not text.isdigit():
        return ""
    return "420" + text if len(text) == 9 else text


def valid(number: str, settings: SandboxSettings) -> bool:
    return (
        10 <= len(number) <= 15
        and not number.startswith(tuple(settings.bad_prefixes))
        and number not in settings.blacklist
    )


# -- /Send ---------------------------------------------------------------------------------


def _latency(sb: SmsManagerSandbox) -> float:
    """This request's latency in seconds (fixed plus jitter, from the seeded generator)."""
    f = sb.settings.faults
    jitter = sb.state.rng_faults.uniform(0, f.jitter_ms) if f.jitter_ms > 0 else 0.0
    return (f.latency_ms + jitter) / 1000


def _check(
    p: Mapping[str, str], raw: list[str] | None, sb: SmsManagerSandbox
) -> str | dict[str, Any]:
    """The request's values (`raw`: its numbers as written, None: none given), or the
    code of the error the gateway answers it with."""
    text = param(p, "message")
    if raw is None or text is None:
        return "109"
    gateway = (param(p, "gateway") or DEFAULT_GATEWAY).lower()
    if gateway not in GATEWAYS:
        return "104"
    if not text or len(text) > MAX_TEXT_CHARS:
        return "202"
    sender = param(p, "sender") or ""
    if sender and not SENDER.fullmatch(sender):
        return "203"
    custom_id = param(p, "customid") or ""
    expiration = param(p, "expiration") or ""
    scheduled = param(p, "time") or ""
    if custom_id and not CUSTOM_ID.fullmatch(custom_id):
        return "102"
    if any(v and not WHEN.fullmatch(v) for v in (expiration, scheduled)):
        return "102"
    read = (normalise(x) for x in raw)
    numbers = list(dict.fromkeys(n for n in read if n and valid(n, sb.settings)))
    sb.state.destinations_received += len(raw)
    sb.state.statuses["INVALID_NUMBER"] += len(raw) - len(numbers)
    if not numbers:
        return "201"
    return {
        "numbers": numbers,
        "text": text,
        "gateway": gateway,
        "sender": sender,
        "custom_id": custom_id,
        "expiration": expiration.replace("T", " "),
    }


def split_numbers(field: str | None) -> list[str] | None:
    """The numbers of the HTTP API's `number` ("," or ";" between them)."""
    if field is None:
        return None
    return [n for n in re.split(r"[,;]", field) if n.strip()]


@dataclass(slots=True)
class Taking:
    """One request about to be taken: its id, values and the sends it makes."""

    request_id: str
    checked: dict[str, Any]
    keys: list[str]  # `{customid or requestId}:{number}` of each number
    fresh: list[str]  # of them, those sent (and billed): all, unless `dedupe_ids`
    parts: int
    cost: float


def _taking(sb: SmsManagerSandbox, checked: dict[str, Any]) -> Taking:
    parts = split(checked["text"]).parts
    request_id = sb.book.new_id()
    keys = [f"{checked['custom_id'] or request_id}:{n}" for n in checked["numbers"]]
    fresh = [k for k in keys if not (sb.settings.dedupe_ids and k in sb.state.accepted)]
    cost = parts * len(fresh) * sb.settings.price_per_part
    return Taking(request_id, checked, keys, fresh, parts, cost)


async def send(request: web.Request) -> web.StreamResponse:
    """The HTTP API's `/Send`: one request."""
    p = request[PARAMS]
    return await _take(
        request, lambda sb: [_check(p, split_numbers(param(p, "number")), sb)], error, _text_answer
    )


async def send_document(request: web.Request) -> web.StreamResponse:
    """The XML API's `Send`: every `<Request>` of the document, or none."""
    raw = request[PARAMS][documents.FIELD]

    def check(sb: SmsManagerSandbox) -> list[str | dict[str, Any]]:
        try:
            wanted = documents.read(raw, sb.settings.api_key)
        except documents.DocumentError as exc:
            return [exc.code]
        return [_check(w.params, w.numbers, sb) for w in wanted]

    return await _take(request, check, xml_error, _xml_answer)


def _text_answer(takings: list[Taking]) -> web.Response:
    (t,) = takings
    cid = t.checked["custom_id"]
    answer = f"OK|{t.request_id}|{','.join(t.checked['numbers'])}" + (f"|{cid}" if cid else "")
    return text_response(answer)


def _xml_answer(takings: list[Taking]) -> web.Response:
    answered = [
        documents.Answered(
            t.request_id,
            t.checked["custom_id"],
            t.checked["numbers"],
            t.parts * len(t.fresh),
            t.cost,
        )
        for t in takings
    ]
    answered.reverse()  # the order of the answer is not documented: not the document's
    return xml_response(documents.ok(answered))


async def _take(
    request: web.Request,
    check: Callable[[SmsManagerSandbox], list[str | dict[str, Any]]],
    refuse: Callable[[str], web.Response],
    answer: Callable[[list[Taking]], web.Response],
) -> web.StreamResponse:
    """Decide, take every request at once (or none), answer after the latency (a
    refusal too): a client that dies meanwhile leaves its numbers taken (what
    exactly-once must survive)."""
    sb = sandbox_of(request)
    fault = sb.faults.before_accepting()
    if fault is not Fault.NONE:
        await sb.faults.delay()
    if fault is Fault.THROTTLE:
        retry = str(sb.settings.faults.retry_after_s)
        return text_response("Too Many Requests", 429, {"Retry-After": retry})
    if fault is Fault.ERROR:
        return refuse("900")
    checked = check(sb)
    refusal = next((c for c in checked if isinstance(c, str)), None)
    takings = [] if refusal else [_taking(sb, c) for c in checked if not isinstance(c, str)]
    if refusal is None and sum(t.cost for t in takings) > sb.state.credit:
        refusal = "105"
    wait = _latency(sb)
    if wait >= SERVER_TIMEOUT_S:  # the gateway gives up on it: 503, nothing processed
        await asyncio.sleep(SERVER_TIMEOUT_S)
        return unavailable()
    if refusal is not None:
        await asyncio.sleep(wait)
        return refuse(refusal)
    for t in takings:
        _accept(sb, t)
    await asyncio.sleep(wait)
    response = answer(takings)
    if sb.faults.times_out():
        fresh = [k for t in takings for k in t.fresh]
        return await time_out(request, sb, takings[0].request_id, fresh, response)
    return response


def _accept(sb: SmsManagerSandbox, t: Taking) -> None:
    state = sb.state
    now = time.time()
    sent_at = time.monotonic() + sb.smsmanager.queue_s
    fresh_set = set(t.fresh)
    c = t.checked
    deliveries: dict[str, Delivery] = {}
    for key, number in zip(t.keys, c["numbers"], strict=True):
        if key in fresh_set:
            state.accepted[key] = state.accepted.get(key, 0) + 1
            state.statuses["ACCEPTED"] += 1
            deliveries[number] = sb.deliver(key, sent_at)
        else:  # dedupe_ids on and a reused id: answered as taken, not sent again
            state.rejected_ids[key] = state.rejected_ids.get(key, 0) + 1
            state.statuses["DUPLICATE_NOT_SENT"] += 1
    state.credit -= t.cost
    if t.fresh:
        state.add_parts(int(now), t.parts * len(t.fresh))
    sb.book.add(
        Request(
            t.request_id,
            c["gateway"],
            _stamp(now),
            c["expiration"],
            c["sender"] or DEFAULT_SENDER,
            c["custom_id"],
            list(c["numbers"]),
            sent_at,
            deliveries,
        )
    )


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


async def time_out(
    request: web.Request,
    sb: SmsManagerSandbox,
    request_id: str,
    accepted: list[str],
    answer: web.Response,
) -> web.StreamResponse:
    """Accepted and recorded; now hang past the client's timeout, or drop the connection."""
    faults = sb.settings.faults
    event = TimeoutEvent(request_id, len(accepted), faults.timeout_mode, accepted)
    await hang_or_drop(request, sb.state, faults, event)
    return answer


# -- queries ---------------------------------------------------------------------------------


async def request_list(request: web.Request) -> web.Response:
    """The requests still queued, newest first (every number of a queued one remains)."""
    sb = sandbox_of(request)
    now = time.monotonic()
    queued = [r for r in reversed(sb.book.requests.values()) if r.queued(now)]
    lines = [
        f"{r.request_id}|{r.gateway}|{r.time}|{r.expiration}|{r.sender}|{len(r.numbers)}|"
        f"{r.state(now)}"
        for r in queued
    ]
    return text_response("\n".join(lines))


async def request_status(request: web.Request) -> web.Response:
    request_id = param(request[PARAMS], "requestid")
    if not request_id:
        return error("109")
    sb = sandbox_of(request)
    found = sb.book.requests.get(request_id.strip())
    if found is None:
        return text_response("")  # what the public clients saw for an unknown id
    return text_response("\n".join(found.lines(time.monotonic())))


async def user_info(request: web.Request) -> web.Response:
    sb = sandbox_of(request)
    return text_response(f"{sb.state.credit:.2f}|{DEFAULT_SENDER}|{DEFAULT_GATEWAY}")


# -- the application -------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    for path, handler in (
        (SEND_ROUTE, send),
        ("/RequestList", request_list),
        ("/RequestStatus", request_status),
        ("/GetUserInfo", user_info),
    ):
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)


async def _dlr_lifecycle(app: web.Application) -> Any:
    """The shared DLR dispatcher runs (for /_sandbox/dlr/flush); nothing schedules reports:
    deliveries show in /RequestStatus only."""
    dlr = app[SANDBOX].dlr
    await dlr.start()
    yield
    await dlr.stop()


async def read_settings(request: web.Request) -> web.Response:
    return web.json_response(asdict(sandbox_of(request).smsmanager))


async def write_settings(request: web.Request) -> web.Response:
    own = sandbox_of(request).smsmanager
    try:
        update(own, orjson.loads(await request.read()))
        if own.queue_s < 0:
            raise ValueError("queue_s must be 0 or more")
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(asdict(own))


def make_app(
    settings: SandboxSettings | None = None, smsmanager: SmsManagerSettings | None = None
) -> web.Application:
    """A ready aiohttp Application; `app[SANDBOX]` gives tests the state and knobs."""
    app = web.Application(middlewares=[count_and_auth], client_max_size=MAX_BODY)
    app[SANDBOX] = SmsManagerSandbox(settings or SandboxSettings(dedupe_ids=False), smsmanager)
    add_routes(app)
    app.router.add_get(SETTINGS_ROUTE, read_settings)
    app.router.add_post(SETTINGS_ROUTE, write_settings)
    add_control_routes(app)
    app.cleanup_ctx.append(_dlr_lifecycle)
    app.cleanup_ctx.append(gc_freezer)
    return app
