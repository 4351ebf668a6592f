"""SMSC.ru sender details beyond the contract cases: one time budget for a batch's forms,
and gateway ids only for what is sent."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import Settings
from core.batch import Batch, Destination
from providers import registry
from providers.base import Action

N0, N1 = "66812345600", "66812345601"


def batch(*dests: Destination) -> Batch:
    return Batch("c", 0, "c-b0", "Shop", None, dests, int(time.time() * 1000) + 3_600_000)


def test_a_batch_s_forms_share_one_time_budget() -> None:
    """Two texts `list` cannot carry: two forms.  The first takes most of the timeout, so
    the second does not start (its claims would settle while it runs): NOT_SENT_IN_TIME,
    deferred by the worker, never sent late."""
    forms: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        forms.append(await request.read())
        await asyncio.sleep(0.45)
        return web.json_response({"id": "c-b0", "cnt": 1, "phones": [
            {"phone": N0, "mccmnc": "52001", "cost": "1.0"}]})  # fmt: skip

    async def go() -> list[tuple[str, Action]]:
        app = web.Application()
        app.router.add_post("/sys/send.php", handler)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            settings = Settings(smsc_base_url=url, smsc_login="u", smsc_password="p",
                                http_timeout=0.6)  # fmt: skip
            sender = registry.get("smsc").sender(session, settings)
            b = batch(Destination("c-0", N0, "Hi\r\nAnn"), Destination("c-1", N1, "C:\\new"))
            return [(r.message_id, r.verdict.action) for r in await sender.send(b)]

    results = asyncio.run(go())
    assert len(forms) == 1
    assert results == [("c-0", Action.ACCEPTED), ("c-1", Action.THROTTLED)]


def test_gateway_ids_only_for_the_destinations_sent() -> None:
    """A number twice in a batch goes once (its first messageId): the second must not
    take over the mapping its reports are translated by."""
    sender = registry.get("smsc").sender(None, Settings(smsc_login="u", smsc_password="p"))
    b = batch(Destination("c-0", N0, "Hi"), Destination("c-1", N0, "Hi again"))
    assert sender.provider_ids(b) == {"c-0": f"c-b0:{N0}"}
