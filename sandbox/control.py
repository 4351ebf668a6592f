"""Control endpoints for tests and benchmarks (no auth; a sandbox only):

GET  /_sandbox/state          summary (acceptedMoreThanOnce, doubleSends, inflight,
                              maxConcurrentRequests, ...); ?ids=1 times accepted / seen per
                              messageId, ?final=1 decided outcome per messageId (the
                              latest acceptance's), ?pins=1 2FA PINs, ?payloads=1
                              each binary message's payload as accepted (hex),
                              ?options=1 each message's options as accepted,
                              ?arrivals=1 when each message's latest accepted request came
                              in (wall clock, seconds)
POST /_sandbox/reset          forget everything received (the concurrency count too),
                              re-seed the generators
GET|POST /_sandbox/faults     read / partially update FaultSettings
GET|POST /_sandbox/flooding   read / partially update FloodSettings
GET|POST /_sandbox/dlr        read / partially update DlrSettings
GET|POST /_sandbox/settings   read / partially update all SandboxSettings
POST /_sandbox/balance        {"set": x} or {"add": x}: top up the credit
POST /_sandbox/dlr/flush      send every scheduled delivery report now
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from sandbox.gateway import SANDBOX, Sandbox
from sandbox.reports import arrived
from sandbox.settings import update
from sandbox.statuses import service_error


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "0") not in ("0", "", "false")


async def get_state(request: web.Request) -> web.Response:
    state = request.app[SANDBOX].state
    data = state.summary()
    if _flag(request, "ids"):
        data.update(state.ids())
    if _flag(request, "final"):
        data["final"] = state.final
    if _flag(request, "payloads"):
        data["payloads"] = state.payloads
    if _flag(request, "options"):
        data["options"] = state.options
    if _flag(request, "pins"):
        data["otp"].update(state.otp_json())
    if _flag(request, "arrivals"):
        data["arrivals"] = {mid: arrived(entry) for mid, entry in state.logs.items()}
    return _json(data)


async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX].reset()
    return _json({"reset": True})


def _section(sandbox: Sandbox, name: str) -> Any:
    s = sandbox.settings
    return {"faults": s.faults, "flooding": s.flooding, "dlr": s.dlr, "settings": s}[name]


def _dump(target: Any) -> Any:
    return target.to_json() if hasattr(target, "to_json") else _jsonable(asdict(target))


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple | frozenset | set):
        return [_jsonable(v) for v in data]
    return data


def settings_handlers(name: str) -> tuple[Any, Any]:
    async def read(request: web.Request) -> web.Response:
        return _json(_dump(_section(request.app[SANDBOX], name)))

    async def write(request: web.Request) -> web.Response:
        sandbox = request.app[SANDBOX]
        target = _section(sandbox, name)
        try:
            update(target, orjson.loads(await request.read()))
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            return _json(service_error("BAD_REQUEST", str(exc)), 400)
        sandbox.reconfigure()
        return _json(_dump(target))

    return read, write


async def top_up(request: web.Request) -> web.Response:
    state = request.app[SANDBOX].state
    try:
        body = orjson.loads(await request.read())
        if "set" in body:
            state.credit = float(body["set"])
        else:
            state.credit += float(body["add"])
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return _json(service_error("BAD_REQUEST", 'body must be {"set": x} or {"add": x}'), 400)
    return _json({"balance": state.credit})


async def flush_dlr(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    await sandbox.dlr.flush()
    return _json({"flushed": True, "dlr": dict(sandbox.state.dlr)})


def add_control_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/state", get_state)
    app.router.add_post("/_sandbox/reset", reset)
    for name in ("faults", "flooding", "dlr", "settings"):
        read, write = settings_handlers(name)
        app.router.add_get(f"/_sandbox/{name}", read)
        app.router.add_post(f"/_sandbox/{name}", write)
    app.router.add_post("/_sandbox/balance", top_up)
    app.router.add_post("/_sandbox/dlr/flush", flush_dlr)
