"""Resending temporary failures (SMS_RESEND_TEMPORARY) when copies of one report arrive at
once (issue 20): the check (not resent yet) and the mark are one step, so one resend is
enqueued and counted, and the campaign still finishes; a resend whose enqueue died is
enqueued again by the next resend of its campaign."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest

from config.settings import Settings
from core import keys
from core.batch import OPTIONS_KEY, Batch
from core.gsm_national import Language
from core.options import SendOptions
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.reports import ingest, resend
from dispatcher.reports.resend import Resender
from providers.reports import DeliveryReport

P = StreamPolicy(maxlen=10_000, final_ttl=3600)
ON = Settings(resend_temporary=True, resend_delay=60, resend_max=2)
FAR = 4_000_000_000_000


def temporary(mid: str) -> DeliveryReport:
    return DeliveryReport(
        mid,
        "undeliverable",
        True,
        status_name="UNDELIVERABLE_NOT_DELIVERED",
        error_code="27",
        permanent=False,
        provider="ants",
    )


def campaign(server: fakeredis.FakeServer, n: int = 4) -> fakeredis.FakeRedis:
    sync = fakeredis.FakeRedis(server=server)
    sync.sadd(keys.CAMPAIGNS, "c")
    sync.hset(
        keys.campaign_meta("c"),
        mapping={"text": "Hi there", "sender": "Shop", "messages": n, "imported": 1},
    )
    sync.hset(keys.campaign_counts("c"), "queued", n)
    record(
        sync,
        [
            Event(f"c-{i}", "c", State.ACCEPTED, "c-b0", f"6681000000{i}", 1, expires_at=FAR)
            for i in range(n)
        ],
        P,
    )
    return sync


def counted(sync: fakeredis.FakeRedis) -> tuple[int, int, int]:
    meta = keys.campaign_meta("c")
    queued = int(sync.hget(keys.campaign_counts("c"), "queued") or 0)
    return int(sync.hget(meta, "messages")), int(sync.hget(meta, "resent") or 0), queued


def test_two_copies_of_a_report_at_once_enqueue_and_count_one_resend() -> None:
    """The second copy runs entirely while the first enqueues (between its check and, before
    the fix, its mark)."""
    server = fakeredis.FakeServer()
    sync = campaign(server)
    enqueued: list[dict[str, Any]] = []

    async def go() -> tuple[int, int]:
        client = fakeredis.FakeAsyncRedis(server=server)
        await ingest.apply(client, [temporary("c-1")], P)
        loop = asyncio.get_running_loop()
        second: list[int] = []

        def enqueue(batch: dict[str, Any], delay: int) -> None:
            if not second:  # in the enqueue thread: the other copy, start to end, first
                second.append(0)
                other = Resender(client, ON, lambda b, d: enqueued.append(b))
                work = other.resend([temporary("c-1")])
                second[0] = asyncio.run_coroutine_threadsafe(work, loop).result(10)
            enqueued.append(batch)

        first = await Resender(client, ON, enqueue).resend([temporary("c-1")])
        return first, second[0] if second else 0

    first, second = asyncio.run(go())
    assert [d[0] for b in enqueued for d in b["d"]] == ["c-1-r1"]
    assert first + second == 1
    assert counted(sync) == (5, 1, 1)  # 4 + the resend: it can finish


def test_two_copies_in_one_body_are_one_resend() -> None:
    server = fakeredis.FakeServer()
    sync = campaign(server)
    enqueued: list[dict[str, Any]] = []

    async def go() -> int:
        client = fakeredis.FakeAsyncRedis(server=server)
        await ingest.apply(client, [temporary("c-2"), temporary("c-2")], P)
        resender = Resender(client, ON, lambda b, d: enqueued.append(b))
        return await resender.resend([temporary("c-2"), temporary("c-2")])

    assert asyncio.run(go()) == 1
    assert [d[0] for b in enqueued for d in b["d"]] == ["c-2-r1"]
    assert counted(sync) == (5, 1, 1)


def test_a_resend_whose_enqueue_died_goes_with_the_next_resend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fakeredis.FakeServer()
    sync = campaign(server)
    enqueued: list[dict[str, Any]] = []

    def dies(batch: dict[str, Any], delay: int) -> None:
        raise ConnectionError("the broker went away")

    async def go() -> int:
        client = fakeredis.FakeAsyncRedis(server=server)
        await ingest.apply(client, [temporary("c-1"), temporary("c-2")], P)
        with pytest.raises(ConnectionError):
            await Resender(client, ON, dies).resend([temporary("c-1")])
        again = Resender(client, ON, lambda b, d: enqueued.append(b))
        assert await again.resend([temporary("c-1")]) == 0  # marked: not a second time
        assert enqueued == []  # in hand for less than PENDING_STALE_MS: maybe still going
        monkeypatch.setattr(resend, "PENDING_STALE_MS", 0)
        return await again.resend([temporary("c-2")])

    assert asyncio.run(go()) == 1
    assert sorted(d[0] for b in enqueued for d in b["d"]) == ["c-1-r1", "c-2-r1"]
    assert counted(sync) == (6, 2, 2)
    assert sync.zcard(resend.pending_key("c")) == 0


def test_a_resend_carries_the_campaigns_message_options() -> None:
    """Flash and the Turkish single shift went with the first send: the resend has them."""
    server = fakeredis.FakeServer()
    sync = campaign(server)
    options = SendOptions(flash=True, language=Language("TR", single_shift=True))
    sync.hset(keys.campaign_meta("c"), "options", options.stored())
    enqueued: list[dict[str, Any]] = []

    async def go() -> int:
        client = fakeredis.FakeAsyncRedis(server=server)
        await ingest.apply(client, [temporary("c-1")], P)
        return await Resender(client, ON, lambda b, d: enqueued.append(b)).resend(
            [temporary("c-1")]
        )

    assert asyncio.run(go()) == 1
    batch = Batch.from_dict(enqueued[0])
    assert SendOptions.from_meta(batch.meta[OPTIONS_KEY]) == options
