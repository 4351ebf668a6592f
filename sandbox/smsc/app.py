"""The aiohttp Application of the SMSC.ru sandbox: /sys/send.php, /sys/status.php, control.

SMSC routes (GET or POST; parameters in the query and/or a form body, decoded in
`charset`, windows-1251 by default as SMSC's):
    /sys/send.php    login, psw, phones + mes | list, id, sender, valid, fmt, cost, op, err
    /sys/status.php  login, psw, phone, id (comma lists for several), fmt, all
Every answer is HTTP 200, errors included (`sandbox.smsc.answers`), except the injected
500s.  Order of the checks: too many requests of this login in flight (error 9), login
(2), then for send.php a repeat of a send request received within the minute (9: every
send request received counts, whatever becomes of it), the fault injection (a throttle is
error 9 here: SMSC has no 429; an error is HTTP 500, before taking anything), the
request's own checks (1, 3, 6, 7), taking the numbers, the latency, and maybe a timeout
after taking them (hang or drop); for status.php the per-minute limits (9, every status
request counted per message it names, and a mass one per login) and the latency.  The
least favourable readings these implement: `sandbox.smsc.gateway`.  Control routes:
`sandbox.control` (state, reset, faults, settings ...) and `GET|POST /_sandbox/smsc`
(`SmscSettings`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from sandbox.control import add_control_routes
from sandbox.faults import Fault, hang_or_drop
from sandbox.gateway import SANDBOX
from sandbox.settings import SandboxSettings, update
from sandbox.smsc import answers
from sandbox.smsc.gateway import SmscError, SmscSandbox, norm_id
from sandbox.smsc.settings import SmscSettings
from sandbox.state import TimeoutEvent

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024
API_ROUTES = frozenset({"/sys/send.php", "/sys/status.php"})
DEFAULT_CHARSET = "windows-1251"
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "koi8-r": "koi8_r", "windows-1251": "cp1251"}


def smsc(request: web.Request) -> SmscSandbox:
    sandbox = request.app[SANDBOX]
    assert isinstance(sandbox, SmscSandbox)
    return sandbox


@web.middleware
async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Requests per route and answers per HTTP status; every API request in flight."""
    if request.path.startswith("/_sandbox"):
        return await handler(request)
    state = request.app[SANDBOX].state
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    state.requests[route] += 1
    epoch = state.enter() if route in API_ROUTES else None
    try:
        response = await handler(request)
    finally:
        if epoch is not None:
            state.leave(epoch)
    state.http[response.status] += 1
    return response


async def read_params(request: web.Request) -> dict[str, str]:
    """Query and form fields (the form wins), decoded in the request's `charset`."""
    raw: list[tuple[str, str]] = parse_qsl(
        request.rel_url.raw_query_string, keep_blank_values=True, encoding="latin-1"
    )
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "",
        "application/octet-stream",
        "text/plain",
    ):
        body = (await request.read()).decode("latin-1")
        raw += parse_qsl(body, keep_blank_values=True, encoding="latin-1")
    fields = dict(raw)
    charset = CHARSETS.get(fields.get("charset", DEFAULT_CHARSET).lower(), "cp1251")
    return {k: v.encode("latin-1").decode(charset, "replace") for k, v in fields.items()}


def _fmt(params: dict[str, str]) -> int:
    fmt = params.get("fmt", "0").strip()
    return int(fmt) if fmt in ("0", "1", "2", "3") else 0


def reply(answer: tuple[bytes, str], status: int = 200) -> web.Response:
    body, ctype = answer
    return web.Response(body=body, status=status, content_type=ctype, charset="utf-8")


def refused(sandbox: SmscSandbox, fmt: int, code: int, sid: str = "") -> web.Response:
    sandbox.refuse(code)
    return reply(answers.error(fmt, code, sid))


async def send(request: web.Request) -> web.StreamResponse:
    sandbox = smsc(request)
    params = await read_params(request)
    fmt = _fmt(params)
    with sandbox.login_slot(params.get("login", "")) as too_many:
        repeated = sandbox.repeated_send(params)  # every send request received counts
        if too_many:
            return refused(sandbox, fmt, 9)
        if not sandbox.authorized_smsc(params):
            return refused(sandbox, fmt, 2)
        if repeated:
            return refused(sandbox, fmt, 9, norm_id(params.get("id", "")))
        faults = sandbox.faults
        fault = faults.before_accepting()
        if fault is not Fault.NONE:
            await faults.delay()
        if fault is Fault.THROTTLE:
            return refused(sandbox, fmt, 9)
        if fault is Fault.ERROR:
            return web.Response(status=500, text="Internal Server Error")
        try:
            sid, cnt, phones, total = sandbox.send(params)
        except SmscError as exc:
            await faults.delay()
            return refused(sandbox, fmt, exc.code, exc.sid)
        cost = params.get("cost", "0").strip()
        listed: list[dict[str, Any]] | None = None
        if params.get("op", "0").strip() == "1":
            listed = phones
        elif params.get("err", "0").strip() == "1":
            listed = [p for p in phones if "status" in p]
        answer = answers.sent(
            fmt,
            sid,
            cnt,
            total if cost in ("1", "2", "3") else None,
            sandbox.state.credit if cost == "3" else None,
            listed,
        )
        await faults.delay()
        if cost != "1" and faults.times_out():
            taken = [f"{sid}:{p['phone']}" for p in phones if "status" not in p]
            return await time_out(request, sandbox, sid, taken, answer)
        return reply(answer)


async def time_out(
    request: web.Request,
    sandbox: SmscSandbox,
    sid: str,
    taken: list[str],
    answer: tuple[bytes, str],
) -> web.StreamResponse:
    """Taken and counted; now hang past the client's timeout, or drop the connection."""
    faults = sandbox.settings.faults
    event = TimeoutEvent(sid, len(taken), faults.timeout_mode, taken)
    await hang_or_drop(request, sandbox.state, faults, event)
    return reply(answer)


async def status(request: web.Request) -> web.StreamResponse:
    sandbox = smsc(request)
    params = await read_params(request)
    fmt = _fmt(params)
    all_ = params.get("all", "0").strip()
    with sandbox.login_slot(params.get("login", "")) as too_many:
        if too_many:
            return refused(sandbox, fmt, 9)
        if not sandbox.authorized_smsc(params):
            return refused(sandbox, fmt, 2)
        if all_ not in ("0", "1", "2"):
            return refused(sandbox, fmt, 1)
        try:
            records, multi = sandbox.status(params)
        except SmscError as exc:
            return refused(sandbox, fmt, exc.code)
        await sandbox.faults.delay()
        return reply(answers.statuses(fmt, int(all_), records, multi))


async def read_smsc(request: web.Request) -> web.Response:
    return web.json_response(asdict(smsc(request).smsc))


async def write_smsc(request: web.Request) -> web.Response:
    sandbox = smsc(request)
    try:
        update(sandbox.smsc, orjson.loads(await request.read()))
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(asdict(sandbox.smsc))


def add_routes(app: web.Application) -> None:
    for path, handler in (("/sys/send.php", send), ("/sys/status.php", status)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    app.router.add_get("/_sandbox/smsc", read_smsc)
    app.router.add_post("/_sandbox/smsc", write_smsc)


def make_app(
    settings: SandboxSettings | None = None, smsc_settings: SmscSettings | None = None
) -> web.Application:
    """A ready aiohttp Application; `app[SANDBOX]` is the SmscSandbox.  Without settings, a
    reused id is taken and counted again (SMSC.ru does not refuse one); with settings,
    their `dedupe_ids` decides."""
    app = web.Application(middlewares=[count], client_max_size=MAX_BODY)
    app[SANDBOX] = SmscSandbox(settings or SandboxSettings(dedupe_ids=False), smsc_settings)
    add_routes(app)
    add_control_routes(app)
    return app
