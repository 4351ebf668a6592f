"""The API's OpenAPI 3.1 description, served at `/openapi.json`.

Written here as data beside the handlers it describes; the tests validate it with
openapi-spec-validator and fuzz the running server against it with schemathesis (every
response must match it, and none may be a 5xx).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from core import gsm_national
from core.ids import CAMPAIGN_RE
from core.options import TRANSLITERATIONS
from dispatcher.api import MAX_SEND_AHEAD
from dispatcher.campaign import KINDS, REJECTS_KEPT_ROWS
from dispatcher.control import STATES

VERSION = "1.0.0"
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    text = {
        400: "invalid input",
        401: "no or unknown API key",
        403: "scope too small",
        404: "not found",
        409: "conflict",
        413: "too large",
        415: "unsupported media type",
        429: "a limit is reached",
        502: "the gateway failed",
        503: "storage unavailable, retry later",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for c in (*codes, 401, 403, 503)
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_CAMPAIGN_PARAM = {
    "name": "campaign",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": CAMPAIGN_RE.pattern},
}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_CSV = {"description": "CSV, streamed", "content": {"text/csv": {"schema": _STR}}}
_REJECTS = {
    **_CSV,
    "headers": {
        "Rejects-Total": {"description": "rows the import rejected", "schema": _STR},
        "Rejects-Kept": {"description": "of them, rows in this answer", "schema": _STR},
        "Rejects-Truncated": {"description": "true when some are not", "schema": _STR},
    },
}


def _links(*actions: str) -> dict[str, Any]:
    """OpenAPI links from an answer naming a campaign (`campaign`) to operations on it:
    "status" (GET) or a control action (POST .../{action}); a stateful client follows them."""
    base = "#/paths/~1v1~1campaigns~1{campaign}"
    refs = {a: f"{base}/get" if a == "status" else f"{base}~1{a}/post" for a in actions}
    return {
        a: {"operationRef": ref, "parameters": {"campaign": "$response.body#/campaign"}}
        for a, ref in refs.items()
    }


def _linked(answer: dict[str, Any], *actions: str) -> dict[str, Any]:
    return {**answer, "links": _links(*actions)}


def _campaign_op(summary: str, ok: dict[str, Any], scope: str, *codes: int) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_CAMPAIGN_PARAM],
        "x-scope": scope,
        "responses": {"200": ok, **_problems(404, *codes)},
    }


def _unknown_op(summary: str, count: str) -> dict[str, Any]:
    ids = {
        "type": "array",
        "maxItems": 10_000,
        "items": {"type": "string", "minLength": 1, "maxLength": 200},
    }
    answer = _fields("campaign", count, campaign=_STR, **{count: _INT})
    op = _campaign_op(summary, _json(answer, f"how many were {count}"), "admin", 400, 415)
    schema = {"type": "object", "properties": {"messageIds": ids}}
    op["requestBody"] = {"required": False, "content": {"application/json": {"schema": schema}}}
    return op


def _fields(*required: str, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


_CAMPAIGN_FIELDS = {
    "campaign": {
        "type": "string",
        "pattern": CAMPAIGN_RE.pattern,
        "description": "id: letters, digits, . _ -, up to 64",
    },
    "text": {
        "type": "string",
        "minLength": 1,
        "description": "message text; {column} placeholders (required, unless binary or "
        "binary_column gives payloads instead)",
    },
    "sender": _STR,
    "provider": _STR,
    "send_at": {
        "type": "string",
        "description": f"ISO 8601 with a zone: start then (at most "
        f"{MAX_SEND_AHEAD.days} days ahead)",
    },
    "window": {"type": "string", "description": "HH:MM-HH:MM in each recipient's local time"},
    "phone_column": _STR,
    "plan_hash": {
        "type": "string",
        "description": "refuse (409) unless file and texts are what a dry run hashed",
    },
}
# the message options (core.options): a gateway that lacks one refuses the campaign (400)
_OPTION_FIELDS: dict[str, Any] = {
    "flash": {"type": "boolean", "description": "flash SMS: shown at once, not stored"},
    "language": {
        "type": "string",
        "enum": sorted(gsm_national.CODES),
        "description": "national language table (3GPP TS 23.038), with single_shift "
        "and/or locking_shift: parts are counted by it",
    },
    "single_shift": {"type": "boolean", "description": "the language's single shift table"},
    "locking_shift": {"type": "boolean", "description": "the language's locking shift table"},
    "transliteration": {
        "type": "string",
        "enum": sorted(TRANSLITERATIONS),
        "description": "the gateway transliterates the text by this table",
    },
    "intermediate_reports": {
        "type": "boolean",
        "description": "ask for intermediate delivery reports: messages move to pending",
    },
}
# a binary campaign (core.binary): payloads instead of `text`, one for all or one per row
_BINARY_FIELDS: dict[str, Any] = {
    "binary": {
        "type": "string",
        "description": "one hex payload for every recipient, instead of text (octet pairs, "
        "spaces allowed); a gateway that cannot send binary refuses it (400)",
    },
    "binary_column": {
        "type": "string",
        "description": "the column (a recipients' key) holding each row's hex payload",
    },
    "data_coding": {
        "type": "integer",
        "minimum": 0,
        "maximum": 255,
        "description": "the payloads' data coding scheme, 3GPP TS 23.038 (default 4: 8-bit)",
    },
    "esm_class": {
        "type": "integer",
        "minimum": 0,
        "maximum": 255,
        "description": "ESM class (default 0; 64: each payload begins with a user data header)",
    },
}
_COUNT_OR_DETAIL = {"oneOf": [_INT, {"type": "object"}]}
_STATUS_FIELDS: dict[str, Any] = {
    "kind": {
        "type": "string",
        "enum": list(KINDS),
        "description": "campaign (imported rows), messages (the single messages' channel, "
        "e.g. `api`) or otp; a channel's state is `open` and it cannot be paused or canceled",
    },
    "sent": {
        **_INT,
        "description": "messages the gateway took: accepted and every later gateway state "
        "(pending, delivered, undeliverable, expired, rejected)",
    },
    "ended_unsent": {
        **_INT,
        "description": "messages that ended without being sent: canceled, suppressed "
        "(opt-out), failed (refused at send time), dead (retries or validity ran out); "
        "sent + ended_unsent + unknown + in_flight = messages",
    },
    "progress": {
        "type": "number",
        "description": "settled / messages, 0 to 1: settled = sent + ended_unsent + unknown "
        "(done_sending); a canceled campaign is settled, not sent",
    },
    "sending": {
        "type": "boolean",
        "description": "true only in state `sending`: show a send rate only then",
    },
    "waiting": {
        "type": "object",
        "additionalProperties": _COUNT_OR_DETAIL,
        "description": "why messages wait, by reason code (deferred and retrying ones now): "
        "rate_limit, anti_flooding, gateway_throttled, resumed, retry, outcome_unknown, "
        "rerouted, worker_stopping, redis_slow as counts; window as {count, opens_at "
        '("HH:MM local time": each recipient\'s own), next_opening (epoch ms, 0: unknown)}; '
        "scheduled as {batches, at (epoch ms of --send-at)}; paused as {count, reason, by "
        "(who paused it, when an operator did)}",
    },
    "in_flight": {
        **_INT,
        "description": "messages not settled yet: queued, deferred, retrying, paused",
    },
    "done_sending": {**_INT, "description": "settled: sent + ended_unsent + unknown"},
    "top_errors": {
        "type": "array",
        "items": {"type": "object"},
        "description": "the most frequent failures with a code (undeliverable, rejected, "
        "failed, dead): status, error, error_name, count; never cancels, opt-outs or expiries",
    },
    "accepted_by_provider": {
        "type": "object",
        "additionalProperties": _INT,
        "description": "messages each provider took (counted once, when first taken)",
    },
    "dlr_latency": {
        "type": "object",
        "description": "delivery-report latency in seconds: count, mean_s, p50_s, p95_s",
    },
}
_GSM_SAFE = {"description": "look-alikes (curly quotes, dashes...) to GSM-7 where that fits"}
_TRACK_LINKS = {
    "description": "every http(s) URL of the text becomes a tracked short link, as "
    "{link:URL} does (needs SMS_LINK_BASE: else a 503 naming it)"
}
_CLICKS = {
    "type": "object",
    "description": "clicks on the campaign's tracked links: total, messages clicked (unique), "
    "rate (messages clicked / sent), agents (clicks by user-agent family); tracked: whether "
    "its text has links",
    "properties": {
        "tracked": {"type": "boolean"},
        "total": _INT,
        "messages": _INT,
        "rate": {"type": "number", "minimum": 0},
        "agents": {"type": "object", "additionalProperties": _INT},
    },
}

_LINK_OPERATION: dict[str, Any] = {  # GET and HEAD of /l/{code}
    "security": [],
    "parameters": [
        {
            "name": "code",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": 64},
            "description": "13 base62 characters; anything else is a 404",
        }
    ],
    "responses": {
        "302": {
            "description": "to the link's target",
            "headers": {"Location": {"required": True, "schema": _STR}},
        },
        "404": {
            "description": "no such link (unknown, expired or malformed: the same page for all)",
            "content": {"text/html": {"schema": _STR}},
        },
        "503": {
            "description": "storage unavailable, retry later",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        },
    },
}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": _STR,
            "title": _STR,
            "status": _INT,
            "detail": _STR,
            "field": _STR,
            "line": _INT,
            "file": _STR,
            "retry_after": _INT,
        },
    },
    "ImportReport": _fields(
        "campaign",
        "rows",
        "valid",
        "invalid",
        "duplicates",
        "batches",
        "enqueued",
        campaign=_STR,
        rows=_INT,
        valid=_INT,
        invalid=_INT,
        duplicates=_INT,
        batches=_INT,
        enqueued=_INT,
        skipped=_INT,
        seconds={"type": "number"},
        opted_out=_INT,
        replaced={"type": "object", "additionalProperties": _INT},
        rejects={"type": "array", "items": _STR},
        status=_STR,
    ),
    "Status": _fields(
        "campaign",
        "kind",
        "state",
        "messages",
        "counts",
        "done_sending",
        "in_flight",
        "sent",
        "ended_unsent",
        "progress",
        "sending",
        "waiting",
        campaign=_STR,
        state={"type": "string", "enum": list(STATES)},
        messages=_INT,
        counts={"type": "object", "additionalProperties": _INT},
        paused=_STR,
        parked_batches=_INT,
        scheduled_batches=_INT,
        next_due=_INT,
        send_at=_INT,
        window=_STR,
        awaiting_report=_INT,
        unknown=_INT,
        clicks=_CLICKS,
        **_STATUS_FIELDS,
    ),
    "Plan": _fields(
        "hash",
        "rows",
        "valid",
        "invalid",
        "duplicates",
        "opted_out",
        "groups",
        "cost",
        "forecast",
        hash=_STR,
        rows=_INT,
        valid=_INT,
        invalid=_INT,
        duplicates=_INT,
        opted_out=_INT,
        recipients_parts=_INT,
        encoding=_STR,
        parts=_INT,
        groups={"type": "object", "additionalProperties": {"type": "object"}},
        changed_encoding=_INT,
        changed_parts=_INT,
        examples_encoding={"type": "array", "items": {"type": "object"}},
        examples_parts={"type": "array", "items": {"type": "object"}},
        replaced={"type": "object", "additionalProperties": _INT},
        cost={"type": "object", "additionalProperties": _STR},
        unpriced_parts=_INT,
        forecast={"type": "object"},
        rejects={"type": "array", "items": _STR},
        links={
            "type": "array",
            "items": _STR,
            "description": "the tracked links' targets (parts count each as its short link)",
        },
    ),
    "CampaignList": _fields(
        "total", "campaigns", total=_INT, campaigns={"type": "array", "items": _ref("Status")}
    ),
    "CampaignJson": {
        **_fields(
            "campaign",
            "recipients",
            **_CAMPAIGN_FIELDS,
            gsm_safe={"type": "boolean", **_GSM_SAFE},
            track_links={"type": "boolean", **_TRACK_LINKS},
            **_OPTION_FIELDS,
            **_BINARY_FIELDS,
            recipients={
                "type": "array",
                "minItems": 1,
                "items": {"type": "object", "additionalProperties": _STR},
            },
        )
    },
    "Message": _fields("to", "text", to=_STR, text=_STR, sender=_STR, campaign=_STR, provider=_STR),
    "MessageAccepted": _fields(
        "messageId", "campaign", "status", messageId=_STR, campaign=_STR, status=_STR
    ),
    "MessageState": _fields(
        "messageId",
        "state",
        messageId=_STR,
        state=_STR,
        to=_STR,
        campaign=_STR,
        status=_STR,
        error=_STR,
        attempt=_STR,
        provider=_STR,
        ts=_STR,
    ),
    "Audit": _fields(
        "entries",
        entries={
            "type": "array",
            "items": _fields(
                "at", "who", "action", at=_INT, who=_STR, action=_STR, campaign=_STR, detail=_STR
            ),
        },
    ),
    "UnknownList": _fields(
        "campaign",
        "unknown",
        campaign=_STR,
        unknown={
            "type": "array",
            "items": _fields(
                "messageId", "to", "reason", "at", messageId=_STR, to=_STR, reason=_STR, at=_INT
            ),
        },
    ),
    "OtpSend": _fields("phone", phone=_STR, application=_STR),
    "OtpSent": _fields("pinId", pinId=_STR),
    "OtpVerify": _fields("pin", pin=_STR),
    "Chart": _fields(
        "campaign",
        "now",
        "points",
        campaign=_STR,
        now=_INT,
        fine_s=_INT,
        coarse_s=_INT,
        points={
            "type": "array",
            "items": {"type": "array", "items": _INT, "minItems": 3, "maxItems": 3},
        },
        clicks={
            "type": "array",
            "description": "clicks by minute on its tracked links: [minute's first second, "
            "clicks], the latest minutes that had some",
            "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
        },
    ),
    "Details": _fields(
        "campaign",
        campaign=_STR,
        text=_STR,
        sender=_STR,
        region=_STR,
        window=_STR,
        kind=_STR,
        created=_INT,
        imported=_INT,
        send_at=_INT,
        expires_at=_INT,
    ),
    "DeadLetters": _fields(
        "deadletters",
        deadletters={
            "type": "array",
            "items": _fields(
                "messageId",
                "campaign",
                "to",
                "reason",
                "at",
                messageId=_STR,
                campaign=_STR,
                to=_STR,
                reason=_STR,
                at=_INT,
            ),
        },
    ),
    "Optouts": _fields(
        "optouts",
        optouts={
            "type": "array",
            "items": _fields(
                "number",
                "added",
                "expires",
                "source",
                "reason",
                number=_STR,
                added=_INT,
                expires=_INT,
                source=_STR,
                reason=_STR,
            ),
        },
    ),
    "OptoutNumbers": _fields(
        "numbers",
        numbers={"type": "array", "minItems": 1, "maxItems": 1000, "items": _STR},
        reason={"type": "string", "maxLength": 200},
        days={"type": "number", "minimum": 0, "maximum": 36500},
    ),
    "Keys": _fields(
        "keys",
        keys={
            "type": "array",
            "items": _fields("name", "scope", name=_STR, scope=_STR, created=_INT),
        },
    ),
    "KeyCreate": _fields(
        "name",
        "scope",
        name={"type": "string", "minLength": 1, "maxLength": 64},
        scope={"type": "string", "enum": ["read", "send", "admin"]},
    ),
    "OtpVerified": _fields(
        "verified",
        "attemptsRemaining",
        verified={"type": "boolean"},
        attemptsRemaining=_INT,
        pinError=_STR,
    ),
}


def _paths() -> dict[str, Any]:
    status = _json(_ref("Status"), "the campaign's status")
    csv_query = [
        {"name": n, "in": "query", "required": n == "campaign", "schema": _STR}
        for n in (*_CAMPAIGN_FIELDS, "delimiter")
    ]
    csv_query += [
        {"name": "gsm_safe", "in": "query", "schema": {"type": "boolean"}, **_GSM_SAFE},
        {"name": "track_links", "in": "query", "schema": {"type": "boolean"}, **_TRACK_LINKS},
        *(
            {
                "name": name,
                "in": "query",
                "schema": {k: v for k, v in field.items() if k != "description"},
                "description": field["description"],
            }
            for name, field in _OPTION_FIELDS.items()
        ),
        *(
            {
                "name": name,
                "in": "query",
                "schema": {k: v for k, v in field.items() if k != "description"},
                "description": field["description"],
            }
            for name, field in _BINARY_FIELDS.items()
        ),
        {
            "name": "dry_run",
            "in": "query",
            "schema": {"type": "boolean"},
            "description": "plan instead: counts, parts, cost and forecast; nothing is written",
        },
    ]
    return {
        "/v1/campaigns": {
            "post": {
                "summary": "Start a campaign: JSON recipients, a CSV body (fields in the query) "
                "or a multipart form (fields, then `file`); a body over "
                "SMS_MAX_UPLOAD_BYTES is a 413",
                "x-scope": "send",
                "parameters": csv_query,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("CampaignJson")},
                        "text/csv": {"schema": _STR},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    **_CAMPAIGN_FIELDS,
                                    "gsm_safe": _STR,
                                    "track_links": _STR,
                                    **{name: _STR for name in _OPTION_FIELDS},
                                    **{name: _STR for name in _BINARY_FIELDS},
                                    "file": {"type": "string", "format": "binary"},
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "201": _linked(
                        _json(_ref("ImportReport"), "imported and enqueued"),
                        "status",
                        "pause",
                        "cancel",
                    ),
                    "200": _json(_ref("Plan"), "dry_run: the plan"),
                    **_problems(400, 409, 413, 415),
                },
            },
            "get": {
                "summary": "Every campaign's status",
                "x-scope": "read",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {**_INT, "minimum": 0, "maximum": 1000},
                    },
                    {"name": "offset", "in": "query", "schema": {**_INT, "minimum": 0}},
                ],
                "responses": {"200": _json(_ref("CampaignList"), "campaigns"), **_problems(400)},
            },
        },
        "/v1/campaigns/{campaign}": {"get": _campaign_op("A campaign's status", status, "read")},
        "/v1/campaigns/{campaign}/rejects": {
            "get": _campaign_op(
                f"The rejected rows of an API import (CSV): its first "
                f"{REJECTS_KEPT_ROWS:,} at most, Rejects-Truncated says "
                "when there were more",
                _REJECTS,
                "read",
            )
        },
        "/v1/campaigns/{campaign}/export": {
            "get": _campaign_op("One row per message (CSV)", _CSV, "read")
        },
        "/v1/campaigns/{campaign}/pause": {
            "post": _campaign_op(
                "Stop sending on every worker", _linked(status, "resume", "cancel"), "admin", 409
            )
        },
        "/v1/campaigns/{campaign}/resume": {
            "post": _campaign_op(
                "Continue a paused campaign", _linked(status, "pause", "cancel"), "admin", 409
            )
        },
        "/v1/campaigns/{campaign}/cancel": {
            "post": _campaign_op(
                "End every unsent message canceled", _linked(status, "status", "resume"), "admin"
            )
        },
        "/v1/campaigns/{campaign}/unknown": {
            "get": _campaign_op(
                "Messages held unknown: the gateway may have them",
                _json(_ref("UnknownList"), "held messages"),
                "read",
            )
        },
        "/v1/campaigns/{campaign}/unknown/resend": {
            "post": _unknown_op("Send unknown messages again (all, or those named)", "resent")
        },
        "/v1/campaigns/{campaign}/unknown/drop": {
            "post": _unknown_op("End unknown messages canceled (all, or those named)", "dropped")
        },
        "/v1/campaigns/{campaign}/chart": {
            "get": {
                "summary": "The page's chart: cumulative [second, sent, delivered] points, a "
                "second apart for the last hour, a minute apart before",
                "x-scope": "read",
                "parameters": [
                    _CAMPAIGN_PARAM,
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Chart"), "points after `since`"),
                    **_problems(400, 404),
                },
            }
        },
        "/l/{code}": {
            "get": {
                "summary": "A tracked short link: 302 to its target, the click recorded (no key)",
                **_LINK_OPERATION,
            },
            "head": {
                "summary": "The same answer as GET, without recording a click (link checkers)",
                **_LINK_OPERATION,
            },
        },
        "/v1/campaigns/{campaign}/details": {
            "get": _campaign_op(
                "What it was started with: text, sender, window, times",
                _json(_ref("Details"), "its details"),
                "read",
            )
        },
        "/v1/deadletters": {
            "get": {
                "summary": "Messages whose retries or validity ran out, oldest first",
                "x-scope": "read",
                "parameters": [
                    {
                        "name": "campaign",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 64},
                    }
                ],
                "responses": {"200": _json(_ref("DeadLetters"), "dead letters"), **_problems()},
            }
        },
        "/v1/deadletters/replay": {
            "post": {
                "summary": "Send dead letters again: one (`messageId`), a campaign's, or all",
                "x-scope": "admin",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "campaign": {"type": "string", "maxLength": 64},
                                    "messageId": {"type": "string", "maxLength": 200},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_fields("replayed", replayed=_INT), "how many"),
                    **_problems(400),
                },
            }
        },
        "/v1/optouts": {
            "get": {
                "summary": "Opt-outs whose number holds these digits",
                "x-scope": "admin",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 64}}
                ],
                "responses": {"200": _json(_ref("Optouts"), "entries"), **_problems()},
            },
            "post": {
                "summary": "Put numbers on the opt-out list",
                "x-scope": "admin",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OptoutNumbers")}},
                },
                "responses": {
                    "200": _json(
                        _fields(
                            "added", "numbers", added=_INT, numbers={"type": "array", "items": _STR}
                        ),
                        "added",
                    ),
                    **_problems(400),
                },
            },
        },
        "/v1/optouts/remove": {
            "post": {
                "summary": "Take numbers off the opt-out list",
                "x-scope": "admin",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OptoutNumbers")}},
                },
                "responses": {
                    "200": _json(
                        _fields(
                            "removed",
                            "numbers",
                            removed=_INT,
                            numbers={"type": "array", "items": _STR},
                        ),
                        "removed",
                    ),
                    **_problems(400),
                },
            }
        },
        "/v1/keys": {
            "get": {
                "summary": "API keys: names, scopes, when made (never a key)",
                "x-scope": "admin",
                "responses": {"200": _json(_ref("Keys"), "keys"), **_problems()},
            },
            "post": {
                "summary": "A new API key, answered once",
                "x-scope": "admin",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("KeyCreate")}},
                },
                "responses": {
                    "201": _json(
                        _fields("name", "scope", "key", name=_STR, scope=_STR, key=_STR), "the key"
                    ),
                    **_problems(400),
                },
            },
        },
        "/v1/keys/{name}": {
            "delete": {
                "summary": "Revoke every key of this name (their page sessions end too)",
                "x-scope": "admin",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
                "responses": {
                    "200": _json(_fields("name", "revoked", name=_STR, revoked=_INT), "how many"),
                    **_problems(),
                },
            }
        },
        "/v1/audit": {
            "get": {
                "summary": "The audit trail: every control action, who, what (newest first)",
                "x-scope": "admin",
                "parameters": [
                    {
                        "name": "campaign",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 64},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {"200": _json(_ref("Audit"), "entries"), **_problems(400)},
            }
        },
        "/v1/messages": {
            "post": {
                "summary": "One transactional SMS; `campaign` (default 'api') must take single "
                "messages: never an imported campaign (400) or a canceled one (409)",
                "x-scope": "send",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": _STR,
                        "description": "same key and body: same message, sent once; a "
                        "refused request does not use the key",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Message")}},
                },
                "responses": {
                    "202": _json(_ref("MessageAccepted"), "enqueued"),
                    **_problems(400, 409, 415),
                },
            }
        },
        "/v1/messages/{message_id}": {
            "get": {
                "summary": "One message's state",
                "x-scope": "read",
                "parameters": [
                    {"name": "message_id", "in": "path", "required": True, "schema": _STR}
                ],
                "responses": {"200": _json(_ref("MessageState"), "its state"), **_problems(404)},
            }
        },
        "/v1/otp": {
            "post": {
                "summary": "Send a one-time PIN",
                "x-scope": "send",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OtpSend")}},
                },
                "responses": {
                    "201": _json(_ref("OtpSent"), "sent"),
                    **_problems(400, 415, 429, 502),
                },
            }
        },
        "/v1/otp/{pin_id}/verify": {
            "post": {
                "summary": "Check a PIN",
                "x-scope": "send",
                "parameters": [{"name": "pin_id", "in": "path", "required": True, "schema": _STR}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OtpVerify")}},
                },
                "responses": {
                    "200": _json(_ref("OtpVerified"), "checked"),
                    **_problems(400, 404, 415, 429, 502),
                },
            }
        },
    }


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsdispatch",
            "version": VERSION,
            "description": "Bulk SMS campaigns, transactional SMS and OTPs. "
            "Send `Authorization: Bearer KEY` (smsdispatch apikey create).",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_BODY = orjson.dumps(spec())


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")
