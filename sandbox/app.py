"""The aiohttp Application of the sandbox gateway: auth, the ANTS routes, the wiring.

ANTS routes (auth: Basic or `App <key>`):
    POST /sms/1/text/advanced, /sms/1/text/single, /sms/1/binary/advanced (sandbox.binary),
         /sms/1/preview
    GET  /sms/1/reports (each report once), /sms/1/logs, /account/1/balance
    POST/GET /2fa/2/applications, GET/PUT /2fa/2/applications/{appId}
    POST/GET /2fa/1/applications/{appId}/messages, GET/PUT .../messages/{messageId}
    POST /2fa/1/pin, /2fa/1/pin/{pinId}/resend, /2fa/1/pin/{pinId}/verify
Control routes (no auth) are in `sandbox.control`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from sandbox.binary import check_binary
from sandbox.control import add_control_routes
from sandbox.faults import Fault, hang_or_drop
from sandbox.gateway import SANDBOX, Sandbox
from sandbox.otp import arrival
from sandbox.parts import split
from sandbox.reports import LogEntry, log_2018, log_view, result_2018
from sandbox.settings import SandboxSettings
from sandbox.state import TimeoutEvent
from sandbox.statuses import service_error
from sandbox.submission import new_id
from sandbox.validation import BadRequest, check_advanced, check_single

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024
UNAUTHORIZED = orjson.dumps(service_error("UNAUTHORIZED", "Invalid login details"))
SEND_ROUTES = frozenset({"/sms/1/text/advanced", "/sms/1/text/single", "/sms/1/binary/advanced"})


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def bad_request(text: str) -> web.Response:
    return json_response(service_error("BAD_REQUEST", text), 400)


@web.middleware
async def count_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = sandbox.state
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    state.requests[route] += 1
    # Send requests in flight, from here to the answer, a timeout's hang or a drop.
    epoch = state.enter() if route in SEND_ROUTES else None
    try:
        if not sandbox.authorized(request.headers.get("Authorization", "")):
            response: web.StreamResponse = web.Response(
                body=UNAUTHORIZED, status=401, content_type="application/json"
            )
        else:
            response = await handler(request)
    finally:
        if epoch is not None:
            state.leave(epoch)
    state.http[response.status] += 1
    return response


async def read_json(request: web.Request) -> Any:
    """The parsed body; BadRequest when it is not JSON."""
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise BadRequest("Content-Type", "the sandbox accepts application/json only")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest("body", "malformed JSON") from exc


# -- SMS ------------------------------------------------------------------------------------


async def send(request: web.Request, check: Callable[[Any], list[dict]]) -> web.StreamResponse:
    """Read, decide, accept at once; the answer comes back after the latency fault, so a
    client that dies meanwhile leaves its messages accepted (what exactly-once must survive)."""
    sandbox = request.app[SANDBOX]
    try:
        body = await read_json(request)
    except BadRequest as exc:
        await sandbox.faults.delay()
        return bad_request(str(exc))
    fault = sandbox.faults.before_accepting()
    if fault is not Fault.NONE:
        await sandbox.faults.delay()
    if fault is Fault.THROTTLE:
        body = service_error("THROTTLE_EXCEPTION", "Too many requests. Try again later.")
        retry = str(sandbox.settings.faults.retry_after_s)
        return json_response(body, 429, {"Retry-After": retry})
    if fault is Fault.ERROR:
        return json_response(service_error("GENERAL_ERROR", "Internal server error"), 500)
    try:
        messages = check(body)
    except BadRequest as exc:
        await sandbox.faults.delay()
        return bad_request(str(exc))
    bulk_id = body.get("bulkId") or new_id("b")
    answers, accepted = sandbox.submitter.submit(bulk_id, messages)
    await sandbox.faults.delay()
    result = {"bulkId": bulk_id, "messages": answers}
    if sandbox.faults.times_out():
        return await time_out(request, sandbox, bulk_id, accepted, result)
    return json_response(result)


async def time_out(
    request: web.Request, sandbox: Sandbox, bulk_id: str, accepted: list[str], result: Any
) -> web.StreamResponse:
    """Accepted and recorded; now hang past the client's timeout, or drop the connection."""
    faults = sandbox.settings.faults
    event = TimeoutEvent(bulk_id, len(accepted), faults.timeout_mode, accepted)
    await hang_or_drop(request, sandbox.state, faults, event)
    return json_response(result)


async def text_advanced(request: web.Request) -> web.StreamResponse:
    return await send(request, check_advanced)


async def binary_advanced(request: web.Request) -> web.StreamResponse:
    return await send(request, lambda body: check_advanced(body, check_binary))


async def text_single(request: web.Request) -> web.StreamResponse:
    return await send(request, check_single)


async def preview(request: web.Request) -> web.Response:
    try:
        body = await read_json(request)
    except BadRequest as exc:
        return bad_request(str(exc))
    text = body.get("text") if isinstance(body, dict) else None
    if type(text) is not str or not text:
        return bad_request("[text : may not be empty]")
    counted = split(text)
    entry = {
        "textPreview": text,
        "messageCount": counted.parts,
        "charactersRemaining": counted.remaining,  # units still free in the last part
        "configuration": {},
    }
    return json_response({"originalText": text, "previews": [entry]})


def _limit(request: web.Request, default: int = 50, cap: int = 10_000) -> int:
    try:
        return max(1, min(cap, int(request.query.get("limit", default))))
    except ValueError:
        return default


async def reports(request: web.Request) -> web.Response:
    """Each report is returned once, then gone (filters: bulkId, messageId, limit)."""
    queue = request.app[SANDBOX].state.reports
    limit, bulk, mid = _limit(request), request.query.get("bulkId"), request.query.get("messageId")
    if mid is not None:
        report = queue.get(mid)
        picked = [mid] if report and bulk in (None, report.message.bulk_id) else []
    else:
        picked = []
        for key, report in queue.items():
            if len(picked) >= limit:
                break
            if bulk is None or report.message.bulk_id == bulk:
                picked.append(key)
    state = request.app[SANDBOX].state
    return json_response({"results": [result_2018(state.take_report(key)) for key in picked]})


def _log_matches(entry: LogEntry, query: Any) -> bool:
    message, _, to, status = log_view(entry)
    bulk, number, sender = query.get("bulkId"), query.get("to"), query.get("from")
    group = query.get("generalStatus")
    return (
        (bulk is None or message.bulk_id == bulk)
        and (number is None or to == number)
        and (sender is None or message.sender == sender)
        and (group is None or status["groupName"] == group)
    )


async def logs(request: web.Request) -> web.Response:
    """Every accepted message, any number of times: its accept status until its final
    report is released, then that report (filters: messageId list, bulkId, to, from,
    generalStatus, limit up to 1000)."""
    kept, query = request.app[SANDBOX].state.logs, request.query
    limit, found = _limit(request, cap=1000), []
    ids = query.get("messageId")
    if ids is None:
        entries: Any = kept.values()
    else:
        picked = (kept.get(mid) for mid in dict.fromkeys(ids.split(",")))
        entries = (entry for entry in picked if entry is not None)
    for entry in entries:
        if _log_matches(entry, query):
            found.append(log_2018(entry))
            if len(found) >= limit:
                break
    return json_response({"results": found})


async def balance(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    return json_response({"balance": sandbox.state.credit, "currency": sandbox.settings.currency})


# -- 2FA ------------------------------------------------------------------------------------


def otp_response(answer: tuple[int, Any, dict[str, str]]) -> web.Response:
    status, body, headers = answer
    return json_response(body, status, headers or None)


async def otp_body(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except BadRequest:
        return None


async def create_app(request: web.Request) -> web.Response:
    return otp_response(request.app[SANDBOX].otp.create_app(await otp_body(request)))


async def list_apps(request: web.Request) -> web.Response:
    return otp_response(request.app[SANDBOX].otp.list_apps())


async def get_app(request: web.Request) -> web.Response:
    return otp_response(request.app[SANDBOX].otp.get_app(request.match_info["app_id"]))


async def update_app(request: web.Request) -> web.Response:
    otp, app_id = request.app[SANDBOX].otp, request.match_info["app_id"]
    return otp_response(otp.update_app(app_id, await otp_body(request)))


async def create_template(request: web.Request) -> web.Response:
    otp, app_id = request.app[SANDBOX].otp, request.match_info["app_id"]
    return otp_response(otp.create_template(app_id, await otp_body(request)))


async def list_templates(request: web.Request) -> web.Response:
    return otp_response(request.app[SANDBOX].otp.list_templates(request.match_info["app_id"]))


async def get_template(request: web.Request) -> web.Response:
    info = request.match_info
    return otp_response(request.app[SANDBOX].otp.get_template(info["app_id"], info["msg_id"]))


async def update_template(request: web.Request) -> web.Response:
    info, otp = request.match_info, request.app[SANDBOX].otp
    body = await otp_body(request)
    return otp_response(otp.update_template(info["app_id"], info["msg_id"], body))


async def send_pin(request: web.Request) -> web.Response:
    arrived = arrival()
    return otp_response(request.app[SANDBOX].otp.send_pin(await otp_body(request), arrived))


async def resend_pin(request: web.Request) -> web.Response:
    arrived = arrival()
    return otp_response(request.app[SANDBOX].otp.resend_pin(request.match_info["pin_id"], arrived))


async def verify_pin(request: web.Request) -> web.Response:
    arrived = arrival()
    otp, pin_id = request.app[SANDBOX].otp, request.match_info["pin_id"]
    return otp_response(otp.verify_pin(pin_id, await otp_body(request), arrived))


# -- the application ------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sms/1/text/advanced", text_advanced)
    app.router.add_post("/sms/1/text/single", text_single)
    app.router.add_post("/sms/1/binary/advanced", binary_advanced)
    app.router.add_post("/sms/1/preview", preview)
    app.router.add_get("/sms/1/reports", reports)
    app.router.add_get("/sms/1/logs", logs)
    app.router.add_get("/account/1/balance", balance)
    app.router.add_post("/2fa/2/applications", create_app)
    app.router.add_get("/2fa/2/applications", list_apps)
    app.router.add_get("/2fa/2/applications/{app_id}", get_app)
    app.router.add_put("/2fa/2/applications/{app_id}", update_app)
    app.router.add_post("/2fa/1/applications/{app_id}/messages", create_template)
    app.router.add_get("/2fa/1/applications/{app_id}/messages", list_templates)
    app.router.add_get("/2fa/1/applications/{app_id}/messages/{msg_id}", get_template)
    app.router.add_put("/2fa/1/applications/{app_id}/messages/{msg_id}", update_template)
    app.router.add_post("/2fa/1/pin", send_pin)
    app.router.add_post("/2fa/1/pin/{pin_id}/resend", resend_pin)
    app.router.add_post("/2fa/1/pin/{pin_id}/verify", verify_pin)


async def _dlr_lifecycle(app: web.Application) -> Any:
    dlr = app[SANDBOX].dlr
    await dlr.start()
    yield
    await dlr.stop()


async def gc_freezer(app: web.Application) -> Any:
    """Move what the sandbox keeps into the GC's permanent generation every second.

    The state holds millions of small containers (flooding lists, reports); without
    this, full collections rescan all of them and throughput halves as the run grows.
    Nothing the sandbox keeps forms reference cycles, so reference counting still frees it.
    """

    async def freeze() -> None:
        while True:
            await asyncio.sleep(1.0)
            gc.freeze()

    task = asyncio.create_task(freeze()) if app[SANDBOX].settings.freeze_gc else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make_app(settings: SandboxSettings | None = None) -> web.Application:
    """A ready aiohttp Application; `app[SANDBOX]` gives tests the state and knobs."""
    app = web.Application(middlewares=[count_and_auth], client_max_size=MAX_BODY)
    app[SANDBOX] = Sandbox(settings or SandboxSettings())
    add_routes(app)
    add_control_routes(app)
    app.cleanup_ctx.append(_dlr_lifecycle)
    app.cleanup_ctx.append(gc_freezer)
    return app
