"""send_sms's own Redis round trips (issue 24): each one waits behind a draining campaign's
calls, so the producer makes as few as it can: one client per server, the check in one."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from config.settings import Settings
from core import pause
from core.errors import CampaignCanceled
from core.outcomes import StreamPolicy
from dispatcher import api


def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        ants_base_url="http://127.0.0.1:9",
        ants_username="u",
        ants_password="p",
    )


def test_send_sms_keeps_one_client_per_server(
    r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client made per call opened two connections (a TCP handshake and its set-up
    commands each) for every message."""
    made: list[str] = []
    real = api.sync_redis

    def counting(url: str, **options: Any) -> Any:
        made.append(url)
        return real(url, **options)

    monkeypatch.setattr(api, "sync_redis", counting)
    monkeypatch.setattr(api, "_clients", {})
    s = settings(redis_url)
    sent = [api.send_sms("0812345678", "Your code", key=f"k{i}", settings=s) for i in range(3)]
    assert len(set(sent)) == 3 and r.hget("sms:c:{api}:counts", "queued") == b"3"
    assert made == [redis_url]


def test_the_checks_are_one_round_trip_and_still_refuse_a_canceled_one(
    r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_sms reads the campaign (its kind, a cancel) and whether this message was
    enqueued before in one round trip; send_checked then needs no read of its own."""
    s = settings(redis_url)
    api.check_sms("0812345678", "Your code", campaign="shop", settings=s)  # connected
    writes: list[bytes] = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        writes.append(command)
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    checked = api.check_sms("0812345678", "Your code", key="k1", campaign="shop", settings=s)
    assert len(writes) == 1 and checked.enqueued is False
    monkeypatch.undo()
    mid = api.send_checked(checked, settings=s)
    again = api.check_sms("0812345678", "Your code", key="k1", campaign="shop", settings=s)
    assert again.enqueued is True and api.send_checked(again, settings=s) == mid
    assert r.hget("sms:c:{shop}:counts", "queued") == b"1"
    pause.cancel(r, lambda _: None, "shop", StreamPolicy())
    with pytest.raises(CampaignCanceled):
        api.send_sms("0812345678", "Your code", campaign="shop", settings=s)
