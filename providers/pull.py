"""Delivery reports by pulling: what a provider's report source is (`Spec.pull`).

A gateway that keeps its delivery reports for the client to fetch, each returned only
once (ANTS), registers a source: `Spec.pull(session, settings)`.  `smsdispatch reports
poll` (dispatcher.reports.poller) writes every pulled page to the inbox before it parses
it, so that a page the gateway has forgotten is never lost; the source only speaks HTTP
and parses:

* `pull(limit)`: one page of reports not fetched before (the gateway forgets them as it
  answers), as body and content type, unparsed;
* `parse(body, content_type)`: a page's reports (a `Parsed`), ReportParseError when the
  page cannot be read as a whole;
* `logs(message_ids)`: what the gateway's message logs (kept for a while, readable any
  number of times) say of these messages, one `Parsed` per answer; the poller asks them
  about every open message after a pull that may have been lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from providers.reports import Parsed


class ReportSource(Protocol):
    """Pulls a gateway's delivery reports and reads its message logs."""

    logs_chunk: int  # messageIds one logs request may name

    async def pull(self, limit: int) -> tuple[bytes, str]:
        """One page of at most `limit` reports, unparsed: (body, content type).  A request
        the gateway refuses raises its GatewayError."""
        ...

    def parse(self, body: bytes, content_type: str) -> Parsed:
        """The reports of a pulled page; ReportParseError when it cannot be read at all."""
        ...

    def logs(self, message_ids: Sequence[str]) -> AsyncIterator[Parsed]:
        """What the message logs say of these messages, one `Parsed` per answer."""
        ...


SourceFactory = Callable[[Any, Any], ReportSource]  # (aiohttp session, Settings) -> source
