"""The one harness every provider's contract cases run through.

A case sends a batch (or asks `lookup` about it) through the provider the registry
gives, against a local HTTP server that records each request and answers with the
case's canned answers, then checks:

* the requests, exactly: method, path, query and body (form fields, JSON or raw
  bytes, compared as parsed values) and the headers the case names;
* the outcome: each destination's action (a destination the provider leaves out has
  an unknown outcome), or the error the whole request raised, or what `lookup` found;
* or, for a batch the provider cannot send (a binary batch to a gateway without
  `Profile.binary`: `registry.binary_refusal`; message options it lacks:
  `registry.refusal`; the worker asks both), the refusal and that no request left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import Settings
from core.batch import BINARY_KEY, OPTIONS_KEY, Batch, Destination
from core.binary import Binary
from core.errors import GatewayError
from core.options import SendOptions
from providers import registry
from providers.base import Action

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        body = self.body
        headers = dict(self.headers)
        if isinstance(body, dict | list):
            body = orjson.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        data = body.encode() if isinstance(body, str) else body
        return web.Response(status=self.status, body=data, headers=headers)


@dataclass(frozen=True)
class Request:
    """What the provider must send: body is form fields (dict of str), JSON (any), or bytes."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


VALID_FOR_MS = 49 * HOUR_MS


@dataclass
class Case:
    name: str
    batch: Batch
    answers: list[Answer]  # one per request, in order
    requests: list[Request]
    actions: Mapping[str, Action] | None = None  # messageId -> action (absent: unknown)
    error: type[GatewayError] | None = None
    lookup: bool = False  # ask `lookup` instead of sending: `actions` is what it found
    check: Callable[[Any], None] | None = None  # extra checks on the results
    refused: str = ""  # the batch is refused before any request, for this reason


def batch(
    n: int = 2,
    *,
    text: str | None = "Hi",
    texts: list[str] | None = None,
    sender: str = "Shop",
    campaign: str = "c",
    binary: Binary | None = None,
    options: SendOptions | None = None,
) -> Batch:
    """A batch of `n` destinations c-0.. to 6681234560N (personalised when `texts`; with
    `binary`, the texts are hex payloads; `options`: the campaign's message options)."""
    dests = tuple(
        Destination(f"{campaign}-{i}", f"6681234560{i}", texts[i] if texts else None)
        for i in range(n)
    )
    # beyond every gateway's validity cap (ANTS 48 h), so each request states its cap, however
    # long after this module's import the case runs
    expires = int(time.time() * 1000) + VALID_FOR_MS
    meta: dict[str, Any] = {BINARY_KEY: binary.to_meta()} if binary else {}
    if options:
        meta[OPTIONS_KEY] = options.to_meta()
    shared = None if texts else text
    return Batch(campaign, 0, f"{campaign}-b0", sender, shared, dests, expires, meta=meta)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: Mapping[str, str]


def refusal_of(provider: str, batch: Batch) -> str:
    """Why the worker refuses this batch at this provider, before any request ("": it
    sends it): binary it cannot send, or message options it lacks."""
    if batch.binary and (why := registry.binary_refusal(provider)):
        return why
    return registry.refusal(provider, SendOptions.from_meta(batch.meta.get(OPTIONS_KEY)))


def run(provider: str, settings_for: Callable[[str], Settings], case: Case) -> None:
    refusal = refusal_of(provider, case.batch)
    assert bool(refusal) == bool(case.refused), (case.name, refusal)
    if refusal:  # refused before any request: nothing is sent, as text or otherwise
        assert case.refused in refusal and not case.requests, (case.name, refusal)
        return
    asyncio.run(_run(provider, settings_for, case))


async def _run(provider: str, settings_for: Callable[[str], Settings], case: Case) -> None:
    seen: list[Seen] = []
    answers = iter(case.answers)

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                await request.read(),
                request.headers,
            )
        )
        try:
            return next(answers).response()
        except StopIteration:
            return web.Response(status=599, text="no more canned answers")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        settings = settings_for(str(server.make_url("")).rstrip("/"))
        gateway = registry.get(provider).sender(session, settings)
        outcome: Any = None
        error: BaseException | None = None
        try:
            call = gateway.lookup if case.lookup else gateway.send
            outcome = await call(case.batch)
        except GatewayError as exc:
            error = exc
    _check_requests(case, seen)
    _check_outcome(case, outcome, error)


def _check_requests(case: Case, seen: list[Seen]) -> None:
    assert len(seen) == len(case.requests), (case.name, [(s.method, s.path) for s in seen])
    for want, got in zip(case.requests, seen, strict=True):
        assert (got.method, got.path) == (want.method, want.path), case.name
        assert got.query == dict(want.query), (case.name, got.query)
        if want.form is not None:
            assert dict(parse_qsl(got.body.decode(), keep_blank_values=True)) == dict(want.form), (
                case.name,
                got.body,
            )
        elif want.json is not None:
            assert orjson.loads(got.body) == want.json, (case.name, got.body)
        for name, value in want.headers.items():
            assert got.headers.get(name) == value, (case.name, name, got.headers.get(name))


def _check_outcome(case: Case, outcome: Any, error: BaseException | None) -> None:
    if case.error is not None:
        assert isinstance(error, case.error), (case.name, error)
        return
    assert error is None, (case.name, error)
    if case.lookup:
        found = {mid: r.verdict.action for mid, r in outcome.items()}
        assert found == dict(case.actions or {}), (case.name, found)
    else:
        got = {r.message_id: r.verdict.action for r in outcome}
        assert got == dict(case.actions or {}), (case.name, got)
    if case.check is not None:
        case.check(outcome)
