"""RFC 9457 problem answers (`application/problem+json`), for every HTTP service we run.

    {"type": "about:blank", "title": "...", "status": 400, "detail": "...", ...extra}

A 503 carries `Retry-After`; extra members say where (`field`, `line`, `file`) or what
(`refused`, `retry_after`).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5  # a 503's Retry-After


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    hdrs = dict(headers or {})
    if status == 503:
        hdrs.setdefault("Retry-After", str(RETRY_AFTER_S))
    return web.Response(
        status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON, headers=hdrs
    )
