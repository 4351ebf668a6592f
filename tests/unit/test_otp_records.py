"""A PIN record never outlives its TTL, even when a verification races its expiry."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from config.settings import Settings
from core import keys
from core.errors import OtpNotFound
from dispatcher.otp import Otp


def test_a_verification_never_brings_an_expired_pin_back() -> None:
    async def go() -> None:
        client = fakeredis.FakeAsyncRedis()
        settings = Settings(otp_application_id="app", otp_message_id="msg")
        otp = Otp(settings, client, None)  # type: ignore[arg-type]  # no HTTP here
        await client.hset(keys.otp_pin("p1"), mapping={"to": "668", "attempts": 0})
        await client.pexpire(keys.otp_pin("p1"), 60_000)
        assert await otp._attempt("p1") == 1
        await client.delete(keys.otp_pin("p1"))  # it expired just now
        with pytest.raises(OtpNotFound):
            await otp._attempt("p1")
        assert not await client.exists(keys.otp_pin("p1"))

    asyncio.run(go())
