"""The aiohttp Application of the SmsManager sandbox: the legacy HTTP API.

Routes (GET parameters or a POST form, `apikey` in either; every answer is text/plain):
    /Send           apikey, number ("," or ";" between numbers), message, gateway
                    (high | economy | lowcost | direct; high by default), sender,
                    customid (1-10 digits), expiration / time (YYYY-MM-DDTHH:MM:SS)
                    -> `OK|<requestId>|<accepted numbers, comma-separated>[|<customid>]`
    /RequestList    -> one line per accepted request, newest first:
                    `requestId|gateway|time|expiration|sender|remaining|state`
    /RequestStatus  requestid -> one line per number: `number|state|expected receipts|
                    receipt state` (an unknown id: an empty page)
    /GetUserInfo    -> `credit|default sender|gateway`
Errors: `ERROR|<code>|<text>` with the HTTP status of SmsManager's code table: 101-109 and
201-203 (4xx), 900 (500); a wrong or missing apikey is 103 (401); a request the gateway
could not handle within 30 s is `503 Service Unavailable` and is NOT processed.

Numbers: digits, "+" or "00" in front allowed, spaces and dashes ignored, 9 digits are
Czech (420 in front); 10-15 digits are valid unless they start with one of
`bad_prefixes` or are on the `blacklist`.  Invalid numbers are left out of the OK answer;
none valid is 201.  A text is 1 to 1000 characters (else 202); a sender 1-11 characters
without spaces (else 203).  Each accepted number costs `price_per_part` per part; not
enough `credit` for the request is 105 (402).

Counting: every number accepted is one send of the id `{customid}:{number}` (or
`{requestId}:{number}` without a customid): `accepted[id]` counts them, more than 1 is a
double send.  SmsManager does not check reused ids; with `dedupe_ids` on, the sandbox
answers a reused id as accepted but neither sends nor bills it again (counted as seen).
`make_app()` without settings starts with `dedupe_ids` off, as SmsManager behaves.

Faults (the shared `FaultSettings`): latency and jitter (answered after accepting; a
latency of 30 s or more is the 503 above, nothing accepted), HTTP 500 `ERROR|900` before
accepting, 429 bursts (not documented by SmsManager: a sandbox fault), timeouts after
accepting (hang or drop).  Control routes: `sandbox.control`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from sandbox.app import gc_freezer
from sandbox.control import add_control_routes
from sandbox.faults import Fault, hang_or_drop
from sandbox.gateway import SANDBOX
from sandbox.parts import split
from sandbox.settings import SandboxSettings
from sandbox.smsmanager.book import Request, SmsManagerSandbox
from sandbox.state import TimeoutEvent

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024
SEND_ROUTE = "/Send"
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


def text_response(text: str, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:  # fmt: skip
    return web.Response(text=text, status=status, headers=headers, content_type="text/plain",
                        charset="utf-8")  # fmt: skip


def error(code: str) -> web.Response:
    status, text = ERRORS[code]
    return text_response(f"ERROR|{code}|{text}", status)


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
    state.requests[route] += 1
    # /Send requests in flight, from here to the answer, a timeout's hang or a drop
    epoch = state.enter() if route == SEND_ROUTE else None
    try:
        params = await read_params(request)
        request[PARAMS] = params
        if param(params, "apikey") != sb.settings.api_key:
            response: web.StreamResponse = error("103")
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


def _check(p: Mapping[str, str], sb: SmsManagerSandbox) -> web.Response | dict[str, Any]:
    """The request's values, or the error answer the gateway gives it."""
    numbers_raw, text = param(p, "number"), param(p, "message")
    if numbers_raw is None or text is None:
        return error("109")
    gateway = (param(p, "gateway") or DEFAULT_GATEWAY).lower()
    if gateway not in GATEWAYS:
        return error("104")
    if not text or len(text) > MAX_TEXT_CHARS:
        return error("202")
    sender = param(p, "sender") or ""
    if sender and not SENDER.fullmatch(sender):
        return error("203")
    custom_id = param(p, "customid") or ""
    expiration = param(p, "expiration") or ""
    scheduled = param(p, "time") or ""
    if custom_id and not CUSTOM_ID.fullmatch(custom_id):
        return error("102")
    if any(v and not WHEN.fullmatch(v) for v in (expiration, scheduled)):
        return error("102")
    raw = [n for n in re.split(r"[,;]", numbers_raw) if n.strip()]
    numbers: list[str] = []
    for n in (normalise(x) for x in raw):
        if n and valid(n, sb.settings) and n not in numbers:
            numbers.append(n)
    sb.state.destinations_received += len(raw)
    sb.state.statuses["INVALID_NUMBER"] += len(raw) - len(numbers)
    if not numbers:
        return error("201")
    return {"numbers": numbers, "text": text, "gateway": gateway, "sender": sender,
            "custom_id": custom_id, "expiration": expiration.replace("T", " ")}  # fmt: skip


async def send(request: web.Request) -> web.StreamResponse:
    """Decide, accept at once, answer after the latency: a client that dies meanwhile
    leaves its numbers accepted (what exactly-once must survive)."""
    sb = sandbox_of(request)
    fault = sb.faults.before_accepting()
    if fault is not Fault.NONE:
        await sb.faults.delay()
    if fault is Fault.THROTTLE:
        retry = str(sb.settings.faults.retry_after_s)
        return text_response("Too Many Requests", 429, {"Retry-After": retry})
    if fault is Fault.ERROR:
        return error("900")
    checked = _check(request[PARAMS], sb)
    if isinstance(checked, web.Response):
        return checked
    state, settings = sb.state, sb.settings
    parts = split(checked["text"]).parts
    cid = checked["custom_id"]
    request_id = sb.book.new_id()
    keys = [f"{cid or request_id}:{n}" for n in checked["numbers"]]
    fresh = [k for k in keys if not (settings.dedupe_ids and k in state.accepted)]
    cost = parts * len(fresh) * settings.price_per_part
    if cost > state.credit:
        return error("105")
    wait = _latency(sb)
    if wait >= SERVER_TIMEOUT_S:  # the gateway gives up on it: 503, nothing processed
        await asyncio.sleep(SERVER_TIMEOUT_S)
        return unavailable()
    _accept(sb, request_id, checked, keys, fresh, parts, cost)
    await asyncio.sleep(wait)
    answer = f"OK|{request_id}|{','.join(checked['numbers'])}" + (f"|{cid}" if cid else "")
    if sb.faults.times_out():
        return await time_out(request, sb, request_id, fresh, answer)
    return text_response(answer)


def _accept(sb: SmsManagerSandbox, request_id: str, checked: dict[str, Any], keys: list[str],
            fresh: list[str], parts: int, cost: float) -> None:  # fmt: skip
    state = sb.state
    now = time.time()
    fresh_set = set(fresh)
    for key in keys:
        if key in fresh_set:
            state.accepted[key] = state.accepted.get(key, 0) + 1
            state.statuses["ACCEPTED"] += 1
        else:  # dedupe_ids on and a reused id: answered as taken, not sent again
            state.rejected_ids[key] = state.rejected_ids.get(key, 0) + 1
            state.statuses["DUPLICATE_NOT_SENT"] += 1
    state.credit -= cost
    if fresh:
        state.add_parts(int(now), parts * len(fresh))
    sb.book.add(Request(request_id, checked["gateway"], _stamp(now), checked["expiration"],
                        checked["sender"] or DEFAULT_SENDER, checked["custom_id"],
                        list(checked["numbers"])))  # fmt: skip


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


async def time_out(request: web.Request, sb: SmsManagerSandbox, request_id: str,
                   accepted: list[str], answer: str) -> web.StreamResponse:  # fmt: skip
    """Accepted and recorded; now hang past the client's timeout, or drop the connection."""
    faults = sb.settings.faults
    event = TimeoutEvent(request_id, len(accepted), faults.timeout_mode, accepted)
    await hang_or_drop(request, sb.state, faults, event)
    return text_response(answer)


# -- queries ---------------------------------------------------------------------------------


async def request_list(request: web.Request) -> web.Response:
    book = sandbox_of(request).book
    lines = [f"{r.request_id}|{r.gateway}|{r.time}|{r.expiration}|{r.sender}|0|{r.state}"
             for r in reversed(book.requests.values())]  # fmt: skip
    return text_response("\n".join(lines))


async def request_status(request: web.Request) -> web.Response:
    request_id = param(request[PARAMS], "requestid")
    if not request_id:
        return error("109")
    found = sandbox_of(request).book.requests.get(request_id.strip())
    if found is None:
        return text_response("")  # what the public clients saw for an unknown id
    return text_response("\n".join(f"{n}|{found.state}|1|1" for n in found.numbers))


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
        app.router.add_route("POST", path, handler)  # fmt: skip


async def _dlr_lifecycle(app: web.Application) -> Any:
    """The shared DLR dispatcher runs (for /_sandbox/dlr/flush); nothing schedules reports."""
    dlr = app[SANDBOX].dlr
    await dlr.start()
    yield
    await dlr.stop()


def make_app(settings: SandboxSettings | None = None) -> web.Application:
    """A ready aiohttp Application; `app[SANDBOX]` gives tests the state and knobs."""
    app = web.Application(middlewares=[count_and_auth], client_max_size=MAX_BODY)
    app[SANDBOX] = SmsManagerSandbox(settings or SandboxSettings(dedupe_ids=False))
    add_routes(app)
    add_control_routes(app)
    app.cleanup_ctx.append(_dlr_lifecycle)
    app.cleanup_ctx.append(gc_freezer)
    return app
