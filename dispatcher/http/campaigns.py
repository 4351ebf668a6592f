"""`/v1/campaigns`: start one (a streamed CSV upload, or JSON recipients), read its
status, its rejects and its export (both streamed CSV), pause, resume, cancel.

A CSV comes as `Content-Type: text/csv` with the campaign's fields in the query string,
or as `multipart/form-data` with the fields first and the file last (`curl -F`).  It is
copied to a temporary file in UPLOAD_CHUNK pieces as it arrives, never whole in memory,
then imported exactly as `smsdispatch import` does (same validation, rejects and
idempotency: the same campaign sent again enqueues nothing new).  A body over
SMS_MAX_UPLOAD_BYTES is a 413: at once when its Content-Length says so, else as soon as
that much has arrived (the temporary file is removed, nothing is imported).

The import's rejects are not kept whole: `GET .../rejects` answers its header and first
REJECTS_KEPT_ROWS rows (at most REJECTS_KEPT_BYTES, kept in Redis by every import:
dispatcher.campaign.KeptRejects), and says how many there were (`Rejects-Total`,
`Rejects-Kept`, `Rejects-Truncated`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError

from core import keys, replies
from core.errors import InputError
from core.options import SendOptions, send_options
from dispatcher import api, control, plan
from dispatcher.campaign import REJECTS_KEPT, REJECTS_TOTAL, ImportReport, KeptRejects
from dispatcher.http.state import JSON, body, call, client, reply, scoped, settings, text, who
from dispatcher.reports import export, latency

UPLOAD_CHUNK = 256 * 1024
UPLOAD_NAME = "upload.csv"  # a text/csv body's name (a form's file keeps its own)
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
FIELDS = (
    "campaign",
    "text",
    "binary",  # a binary campaign (api.BinaryPayload): one hex payload for every recipient,
    "binary_column",  # or a column (a recipients' key) of payloads, instead of `text`
    "sender",
    "provider",
    "send_at",
    "window",
    "phone_column",
    "delimiter",
    "plan_hash",
    "language",
    "transliteration",
)
FLAGS = ("gsm_safe", "track_links")  # true/false (JSON) or "true"/"1"/"false"/"0" (query, form)
# the message options' flags (core.options; `language` and `transliteration` are fields)
OPTION_FLAGS = ("flash", "single_shift", "locking_shift", "intermediate_reports")
REQUIRED = frozenset({"campaign"})  # and `text`, unless a binary payload stands for it
NUMBERS = ("data_coding", "esm_class")  # a binary campaign's: integers (JSON) or digits
PLAN_CAMPAIGN = "plan"  # the campaign id a dry run without one is checked as
MAX_RECIPIENTS_JSON = 100_000  # more: upload a CSV
LIST_LIMIT, LIST_MAX = 100, 1000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/campaigns", create)
    router.add_get("/v1/campaigns", list_campaigns)
    router.add_get("/v1/campaigns/{campaign}", one)
    router.add_get("/v1/campaigns/{campaign}/rejects", rejects)
    router.add_get("/v1/campaigns/{campaign}/export", export_csv)
    router.add_post("/v1/campaigns/{campaign}/pause", pause)
    router.add_post("/v1/campaigns/{campaign}/resume", resume)
    router.add_post("/v1/campaigns/{campaign}/cancel", cancel)


# -- starting a campaign ---------------------------------------------------------------


@scoped("send")
async def create(request: web.Request) -> web.Response:
    """Start a campaign; with `?dry_run=true`, plan it instead (200, nothing written)."""
    dry = _flag(request.query, "dry_run")
    cap = settings(request).max_upload_bytes
    if request.content_length is not None and request.content_length > cap:
        raise _too_large(cap, request.content_length)
    if request.content_type == JSON:
        report = await _from_json(request, dry)
    elif request.content_type == "multipart/form-data":
        with tempfile.TemporaryDirectory(prefix="smsd-upload-") as tmp:
            fields, path = await _multipart(await _form(request), Path(tmp), cap)
            report = await _from_csv(request, fields, path, dry)
    elif request.content_type in CSV_TYPES:
        with tempfile.TemporaryDirectory(prefix="smsd-upload-") as tmp:
            path = Path(tmp) / UPLOAD_NAME
            await _save(request.content, path, cap)
            report = await _from_csv(request, dict(request.query), path, dry)
    else:
        raise web.HTTPUnsupportedMediaType(
            text=f"send {JSON}, text/csv or multipart/form-data, not {request.content_type!r}"
        )
    if isinstance(report, plan.Plan):
        answer = report.as_dict()
        # the price table by its file name: the server's folders are nobody's business
        answer["prices"] = Path(str(answer.get("prices", ""))).name
        return reply(answer)
    return reply(_report(report), 201, {"Location": f"/v1/campaigns/{report.campaign}"})


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "no"):
        return False
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes"):
        return True
    raise InputError(f"{name!r} must be true or false", field=name)


def _options(data: Mapping[str, Any], fields: Mapping[str, str]) -> SendOptions:
    """The campaign's message options (a gateway that lacks one refuses it: 400)."""
    return send_options(
        flash=_flag(data, "flash"),
        transliteration=fields["transliteration"] or None,
        language_code=fields["language"] or None,
        single_shift=_flag(data, "single_shift"),
        locking_shift=_flag(data, "locking_shift"),
        intermediate_reports=_flag(data, "intermediate_reports"),
    )


def _binary(data: Mapping[str, Any], fields: Mapping[str, str]) -> api.BinaryPayload | None:
    """A binary campaign's payloads and their coding (None: a text campaign)."""
    numbers = {name: _number(data, name) for name in NUMBERS if data.get(name) is not None}
    if not (fields["binary"] or fields["binary_column"]):
        if numbers:
            raise InputError("only with binary or binary_column", field=next(iter(numbers)))
        return None
    return api.BinaryPayload(fields["binary"], fields["binary_column"], **numbers)


def _number(data: Mapping[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise InputError(f"{name!r} must be an integer", field=name)


def _report(r: ImportReport) -> dict[str, Any]:
    return {
        "campaign": r.campaign,
        "rows": r.rows,
        "valid": r.valid,
        "invalid": r.invalid,
        "duplicates": r.duplicates,
        "opted_out": r.opted_out,
        "batches": r.batches,
        "enqueued": r.enqueued,
        "replaced": r.replaced,
        "skipped": r.skipped,
        "seconds": round(r.seconds, 3),
        "rejects": r.rejects,
        "status": f"/v1/campaigns/{r.campaign}",
    }


async def _from_json(request: web.Request, dry: bool) -> ImportReport | plan.Plan:
    data = await body(request)
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise InputError("'recipients' must be a non-empty list of objects", field="recipients")
    if len(recipients) > MAX_RECIPIENTS_JSON:
        raise InputError(
            f"more than {MAX_RECIPIENTS_JSON} recipients: upload a CSV instead", field="recipients"
        )
    for i, r in enumerate(recipients):
        if not isinstance(r, dict) or not all(isinstance(v, str | int) for v in r.values()):
            raise InputError("each recipient is an object of strings", field=f"recipients[{i}]")
    f, gsm_safe = _fields(data, dry), _flag(data, "gsm_safe")
    common: dict[str, Any] = {
        "text": f["text"],
        "sender": f["sender"] or None,
        "settings": settings(request),
        "phone_column": f["phone_column"] or "phone",
        "provider": f["provider"] or None,
        "send_at": f["send_at"] or None,
        "window": f["window"] or None,
        "gsm_safe": gsm_safe,
        "track_links": _flag(data, "track_links"),
    }
    common["options"] = _options(data, f)
    common["binary"] = _binary(data, f)
    if dry:
        return await call(api.plan_campaign, recipients, campaign=f["campaign"], **common)
    return await call(
        api.enqueue_campaign,
        recipients,
        campaign=f["campaign"],
        plan_hash=f["plan_hash"] or None,
        **common,
    )


def _fields(data: Mapping[str, Any], dry: bool = False) -> dict[str, str]:
    """The campaign's string fields; a dry run needs no campaign id (it checks one given)."""
    f = {
        name: text(data, name, required=name in REQUIRED and not (dry and name == "campaign"))
        for name in FIELDS
    }
    f["campaign"] = f["campaign"] or PLAN_CAMPAIGN
    return f


async def _from_csv(
    request: web.Request, raw: dict[str, Any], path: Path, dry: bool
) -> ImportReport | plan.Plan:
    f, s = _fields(raw, dry), settings(request)
    common: dict[str, Any] = {
        "campaign": f["campaign"],
        "text": f["text"],
        "sender": f["sender"] or None,
        "phone_column": f["phone_column"] or None,
        "delimiter": f["delimiter"] or None,
        "settings": s,
        "provider": f["provider"] or None,
        "send_at": f["send_at"] or None,
        "window": f["window"] or None,
        "gsm_safe": _flag(raw, "gsm_safe"),
        "track_links": _flag(raw, "track_links"),
    }
    common["options"] = _options(raw, f)
    common["binary"] = _binary(raw, f)
    if dry:
        return await call(api.plan_csv, path, name=path.name, **common)
    plan_hash = f["plan_hash"] or None
    return await call(api.import_csv, path, rejects=KeptRejects(), plan_hash=plan_hash, **common)


async def _save(stream: StreamReader | BodyPartReader, path: Path, cap: int) -> None:
    """Copy the upload to `path` as it arrives; a 413 once more than `cap` bytes came."""
    size = 0
    with path.open("wb") as out:
        while chunk := await _chunk(stream):
            size += len(chunk)
            if size > cap:
                raise _too_large(cap, size)
            out.write(chunk)


async def _chunk(stream: StreamReader | BodyPartReader) -> bytes:
    if isinstance(stream, BodyPartReader):
        return await stream.read_chunk(UPLOAD_CHUNK)
    return await stream.read(UPLOAD_CHUNK)


def _too_large(cap: int, size: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=cap,
        actual_size=size,
        text=f"the upload is over SMS_MAX_UPLOAD_BYTES ({cap} bytes): split the file",
    )


async def _form(request: web.Request) -> MultipartReader:
    try:
        return await request.multipart()
    except ValueError as exc:  # no boundary, a malformed header
        raise InputError(f"unreadable multipart body: {exc}", field="Content-Type") from None


async def _multipart(reader: MultipartReader, tmp: Path, cap: int) -> tuple[dict[str, str], Path]:
    """The form's fields and the file (saved to `tmp` under its own, cleaned name)."""
    fields: dict[str, str] = {}
    while (part := await _next(reader)) is not None:
        if not isinstance(part, BodyPartReader):
            raise InputError("nested multipart bodies are not accepted", field="file")
        if part.name == "file":
            name = _SAFE_NAME.sub("_", Path(part.filename or UPLOAD_NAME).name) or UPLOAD_NAME
            path = tmp / name
            await _save(part, path, cap)
            return fields, path
        if part.name in (*FIELDS, *FLAGS, *OPTION_FLAGS, *NUMBERS):
            fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
    raise InputError(
        "no 'file' part (send the campaign's fields first, then the file)", field="file"
    )


async def _next(reader: MultipartReader) -> Any:
    try:
        return await reader.next()
    except (ValueError, HttpProcessingError) as exc:  # a broken part header or boundary
        raise InputError(f"unreadable multipart body: {exc}", field="body") from None


# -- reading ---------------------------------------------------------------------------


def _limit(request: web.Request, name: str, default: int, top: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= top:
        raise InputError(f"{name!r} must be a whole number from 0 to {top}", field=name)
    return int(raw)


@scoped("read")
async def list_campaigns(request: web.Request) -> web.Response:
    limit = _limit(request, "limit", LIST_LIMIT, LIST_MAX)
    offset = _limit(request, "offset", 0, 10**9)
    r = client(request)
    names = await call(control.campaigns, r)
    page = [await call(status_of, r, c) for c in names[offset : offset + limit]]
    return reply({"total": len(names), "campaigns": page})


def status_of(r: redis.Redis, campaign: str) -> dict[str, Any]:
    """The status JSON of a campaign, with its delivery-report latency."""
    st = control.status(r, campaign)
    st["dlr_latency"] = latency.summary(r.hgetall(keys.campaign_dlr(campaign)))
    return st


@scoped("read")
async def one(request: web.Request) -> web.Response:
    return reply(await call(status_of, client(request), request.match_info["campaign"]))


@scoped("read")
async def rejects(request: web.Request) -> web.StreamResponse:
    campaign = request.match_info["campaign"]
    r = client(request)
    await call(control.known, r, campaign)  # 404 when unknown
    total, kept = await call(r.hmget, keys.campaign_meta(campaign), REJECTS_TOTAL, REJECTS_KEPT)
    response = _csv_response(f"{campaign}.rejects.csv")
    if total is not None and kept is not None:  # kept (both) by an import over HTTP
        response.headers.update(
            {
                "Rejects-Total": replies.text(total),
                "Rejects-Kept": replies.text(kept),
                "Rejects-Truncated": str(total != kept).lower(),
            }
        )
    await response.prepare(request)
    key, at = keys.campaign_rejects(campaign), 0
    while pieces := await call(r.lrange, key, at, at + 15):
        for piece in pieces:
            await response.write(replies.bytes_of(piece))
        at += len(pieces)
    await response.write_eof()
    return response


def _csv_response(filename: str) -> web.StreamResponse:
    disposition = f'attachment; filename="{filename}"'
    return web.StreamResponse(
        headers={"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": disposition}
    )


@scoped("read")
async def export_csv(request: web.Request) -> web.StreamResponse:
    campaign = request.match_info["campaign"]
    r = client(request)
    await call(control.known, r, campaign)  # 404 when unknown
    it = export.pieces(r, campaign)
    first = await call(next, it)  # the header and the first rows: errors still answer a problem
    response = _csv_response(f"{campaign}.csv")
    await response.prepare(request)
    await response.write(first)
    while (piece := await call(next, it, b"")) != b"":
        await response.write(piece)
    await response.write_eof()
    return response


# -- operator control ------------------------------------------------------------------


@scoped("admin")
async def pause(request: web.Request) -> web.Response:
    campaign, r = request.match_info["campaign"], client(request)
    changed = await call(control.pause_campaign, r, campaign, who(request))
    return reply({**await call(status_of, r, campaign), "changed": changed})


@scoped("admin")
async def resume(request: web.Request) -> web.Response:
    campaign, r, s = request.match_info["campaign"], client(request), settings(request)
    enqueue, policy = api.enqueuer(s), s.stream_policy
    answer = await call(
        control.resume_if_paused, r, enqueue, campaign, s.batch_size, who(request), policy
    )
    return reply({**await call(status_of, r, campaign), **answer})


@scoped("admin")
async def cancel(request: web.Request) -> web.Response:
    campaign, r, s = request.match_info["campaign"], client(request), settings(request)
    policy = s.stream_policy
    ended = await call(control.cancel, r, api.enqueuer(s), campaign, policy, who(request))
    return reply({**await call(status_of, r, campaign), "canceled_now": ended})
