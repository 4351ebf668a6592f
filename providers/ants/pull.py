"""ANTS's report source (`Spec.pull`): `GET /sms/1/reports` and `GET /sms/1/logs`.

`GET /sms/1/reports` returns each delivery report only once, so the poller
(dispatcher.reports.poller) stores a page before parsing it; `GET /sms/1/logs` keeps what
it knows of a message for 48 h and can be read any number of times, so its answers are
applied directly.  Both answer in the 2018 `results` format (`parse_reports_response`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import aiohttp

from config.settings import Settings
from providers import http
from providers.ants.auth import auth_header
from providers.ants.reports import parse_reports_response
from providers.ants.sender import LOGS_CHUNK, check, logs
from providers.reports import Parsed

REPORTS_PATH = "/sms/1/reports"


class AntsReports:
    """ANTS's reports endpoint and message logs, for the poller."""

    logs_chunk = LOGS_CHUNK

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.base_url = settings.ants_base_url
        self.headers = {"Authorization": auth_header(settings), "Accept": "application/json"}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    async def pull(self, limit: int) -> tuple[bytes, str]:
        """One `GET /sms/1/reports` of the reports not fetched before."""
        answer = await http.request(
            self.session,
            "GET",
            self.base_url + REPORTS_PATH,
            timeout=self.timeout,
            headers=self.headers,
            params={"limit": str(limit)},
        )
        return check(answer), answer.headers.get("Content-Type", "")

    def parse(self, body: bytes, content_type: str) -> Parsed:
        return parse_reports_response(body, content_type)

    async def logs(self, message_ids: Sequence[str]) -> AsyncIterator[Parsed]:
        """`GET /sms/1/logs` about these messages, LOGS_CHUNK at a time."""
        answers = logs(self.session, self.base_url, self.headers, self.timeout, message_ids)
        async for answer in answers:
            yield parse_reports_response(answer.body, answer.headers.get("Content-Type", ""))
