"""SMSC.ru sender details beyond the contract cases: one time budget for a batch's forms,
and gateway ids only for what is sent."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import DEFAULT_SMSC_WINDOW_S, Settings
from core.batch import Batch, Destination
from core.errors import GatewayThrottled
from core.limits.spec import Limit
from providers import registry
from providers.base import Action
from providers.smsc.codes import TOO_MANY_DELAY
from providers.smsc.status import SmscStatusReader
from providers.status import Asked

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
        return web.json_response(
            {"id": "c-b0", "cnt": 1, "phones": [{"phone": N0, "mccmnc": "52001", "cost": "1.0"}]}
        )

    async def go() -> list[tuple[str, Action]]:
        app = web.Application()
        app.router.add_post("/sys/send.php", handler)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            settings = Settings(
                smsc_base_url=url, smsc_login="u", smsc_password="p", http_timeout=0.6
            )
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


def test_a_lookup_is_one_status_request_however_many_destinations() -> None:
    """SMSC allows one mass status request a minute: a lookup larger than a send request
    (1,000 numbers) still asks once, never a second mass request that error 9 would refuse
    (and that, retried from the start, would be refused again each minute)."""
    numbers = [f"6681{i:07d}" for i in range(1500)]
    asked: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        form = dict(await request.post())
        asked.append({k: str(v) for k, v in form.items()})
        if len(asked) > 1:
            return web.json_response({"error": "too many requests", "error_code": 9})
        phones = str(form["phone"]).split(",")
        records = [
            {"status": 1 if i == 0 else -3, "err": 0, "id": "c-b0", "phone": p}
            for i, p in enumerate(phones)
        ]
        return web.json_response(records)

    async def go() -> dict[str, str]:
        app = web.Application()
        app.router.add_post("/sys/status.php", handler)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            settings = Settings(smsc_base_url=url, smsc_login="u", smsc_password="p")
            sender = registry.get("smsc").sender(session, settings)
            b = batch(*(Destination(f"c-{i}", n, None) for i, n in enumerate(numbers)))
            found = await sender.lookup(b)
            return {mid: r.state for mid, r in found.items()}

    assert asyncio.run(go()) == {"c-0": "delivered"}
    assert len(asked) == 1 and asked[0]["phone"].split(",") == numbers


def test_error_9_waits_out_the_minute_smsc_window_s_says() -> None:
    """SMSC.ru's minute is 60 s; SMSC_WINDOW_S shortens it only against a gateway whose
    minute is shorter (a sandbox): error 9 on a send, on a lookup and on a poll waits that
    long, and one mass status request goes per window."""

    async def too_many(request: web.Request) -> web.Response:
        return web.json_response({"error": "too many requests", "error_code": 9})

    async def go(window_s: float) -> list[float | None]:
        app = web.Application()
        app.router.add_post("/sys/send.php", too_many)
        app.router.add_post("/sys/status.php", too_many)
        waits: list[float | None] = []
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            url = str(server.make_url("")).rstrip("/")
            settings = Settings(
                smsc_base_url=url, smsc_login="u", smsc_password="p", smsc_window_s=window_s
            )
            sender = registry.get("smsc").sender(session, settings)
            reader = SmscStatusReader(session, settings)
            for call in (
                sender.send(batch(Destination("c-0", N0, None))),
                sender.lookup(batch(Destination("c-0", N0, None))),
                reader.read([Asked("c-0", f"c-b0:{N0}", N0)]),
            ):
                try:
                    await call
                except GatewayThrottled as exc:
                    waits.append(exc.retry_after)
        return waits

    assert asyncio.run(go(DEFAULT_SMSC_WINDOW_S)) == [TOO_MANY_DELAY] * 3
    assert registry.status_rate("smsc", Settings()) == Limit(1, 60_000)
    short = Settings(smsc_window_s=5)
    assert asyncio.run(go(5)) == [5, 5, 5]
    assert registry.status_rate("smsc", short) == Limit(1, 5_000)
    assert registry.status_rate("ants", short) == registry.get("ants").profile.status_rate
