"""A PIN record never outlives its TTL, even when a verification races its expiry."""

from __future__ import annotations

import asyncio
import dataclasses

import fakeredis
import pytest

from config.settings import Settings
from core import keys
from core.errors import ConfigError, OtpNotFound
from core.limits import Limit
from dispatcher import otp as otp_service
from dispatcher.otp import Otp
from providers import registry
from providers.ants.otp import application_config


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


def test_the_pins_go_through_the_provider_that_sends_them() -> None:
    """SMS_PROVIDER when it sends PINs, else the one that does; ANTS's 2FA defaults are
    its own (providers.ants.otp), each replaced by its OTP_* variable when set."""
    ants = registry.get("ants").otp
    assert ants is not None and registry.get("smsc").otp is None
    assert registry.otp_service("smsc") is ants and registry.otp_service("ants") is ants
    chosen = otp_service.limits(Settings(provider="smsc", otp_send_per_phone=Limit(5, 60_000)))
    assert chosen == dataclasses.replace(ants.defaults, send_per_phone=Limit(5, 60_000))


def test_no_provider_sending_pins_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_SPECS", {"smsc": registry.get("smsc")})
    with pytest.raises(ConfigError):
        otp_service.limits(Settings())


def test_the_2fa_application_is_configured_with_the_chosen_limits() -> None:
    config = application_config(otp_service.limits(Settings(otp_pin_attempts=3)))
    assert (config["pinAttempts"], config["pinTimeToLive"]) == (3, "900s")
    assert (config["verifyPinLimit"], config["sendPinPerPhoneNumberLimit"]) == ("1/3s", "3/1d")
    assert config["sendPinPerApplicationLimit"] == "10000/1d"
