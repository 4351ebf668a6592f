"""One-time PINs through a gateway's 2FA API, behind our own limits.

The gateway is the provider that registers an OTP service (`Spec.otp`,
`providers.otp`; `registry.otp_service`): its PIN endpoints and its defaults for our
limits, each replaced by its OTP_* variable when that is set.  `Otp` (asyncio) does the
work; `dispatcher.api.send_otp / resend_otp / verify_otp` are its synchronous faces.
A send:

1. checks the per-phone and per-application send logs (`OTP_SEND_PER_PHONE`,
   `OTP_SEND_PER_APP`, exact sliding logs in Redis): over them -> OtpLimited;
2. takes one part of the transactional share of the account throughput
   (`core.limits.buckets.account_buckets(..., transactional=True)`): a wait under
   `THROUGHPUT_MAX_WAIT_MS` is slept, a longer one -> OtpLimited;
3. asks the gateway for a PIN synchronously (the caller needs the pinId);
4. keeps a small PIN record (`sms:otp:pin:{pinId}`: phone, application, attempts
   used; it lives `OTP_PIN_TTL`) and writes an `accepted` event to the outcome
   stream under campaign `otp`.

A verify checks `OTP_VERIFY_PER_PHONE` (OtpLimited) and our count of attempts
(`OTP_PIN_ATTEMPTS`: none left answers NO_MORE_PIN_ATTEMPTS without asking the
gateway), then asks the gateway to verify it.  The gateway's own 429 becomes OtpLimited
too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis

from config import settings as config
from core import keys, replies
from core.errors import GatewayThrottled, OtpLimited, OtpNotFound
from core.limits import AsyncLimiter
from core.limits.buckets import account_buckets
from core.outcomes import Event, State, arecord
from core.redis_pool import async_redis
from dispatcher.numbers import normalise
from providers import registry
from providers.otp import OtpGateway, OtpLimits

OTP_CAMPAIGN = "otp"
THROUGHPUT_MAX_WAIT_MS = 1_000
NO_MORE_ATTEMPTS = "NO_MORE_PIN_ATTEMPTS"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    verified: bool
    attempts_remaining: int
    pin_error: str = ""  # WRONG_PIN, TTL_EXPIRED, NO_MORE_PIN_ATTEMPTS, or "" when verified


class Otp:
    """The OTP operations over one Redis client and one HTTP session."""

    def __init__(
        self, settings: config.Settings, redis: aioredis.Redis, session: aiohttp.ClientSession
    ) -> None:
        config.check_otp(settings)
        self.settings = settings
        self.redis = redis
        self.limiter = AsyncLimiter(redis)
        self.limits = limits(settings)
        self.gateway = gateway(session, settings, self.limits)
        self.policy = settings.stream_policy

    async def send(self, phone: str, application: str | None = None) -> str:
        """Send a PIN to `phone`; returns the gateway's pinId."""
        s = self.settings
        app = application or s.otp_application_id
        number = normalise(phone, s.region)
        await self._send_allowed(app, number)
        await self._throughput()
        pin_id = await self._gateway(self.gateway.send_pin(app, s.otp_message_id, number))
        pipe = self.redis.pipeline(transaction=False)  # keys of three cluster slots
        pipe.hset(keys.otp_pin(pin_id), mapping={"to": number, "app": app, "attempts": 0})
        pipe.pexpire(keys.otp_pin(pin_id), self.limits.pin_ttl_ms)
        pipe.sadd(keys.CAMPAIGNS, OTP_CAMPAIGN)
        pipe.hincrby(keys.campaign_meta(OTP_CAMPAIGN), "messages", 1)
        await pipe.execute()
        event = Event(
            pin_id,
            OTP_CAMPAIGN,
            State.ACCEPTED,
            to=number,
            attempt=1,
            reason=f"2FA PIN sent (application {app})",
        )
        await arecord(self.redis, [event], self.policy)
        return pin_id

    async def resend(self, pin_id: str) -> None:
        """Send the same PIN again (counts against the same send limits)."""
        record = await self._record(pin_id)
        await self._send_allowed(record["app"], record["to"])
        await self._throughput()
        await self._gateway(self.gateway.resend_pin(pin_id))

    async def verify(self, pin_id: str, pin: str) -> VerifyResult:
        record = await self._record(pin_id)
        limit = self.limits.verify_per_phone
        wait = await self.limiter.otp_verify_allowed(record["to"], limit)
        if wait:
            raise OtpLimited(f"verifications per phone {limit}", wait / 1000)
        used = await self._attempt(pin_id)
        if used > self.limits.pin_attempts:
            return VerifyResult(False, 0, NO_MORE_ATTEMPTS)
        answer = await self._gateway(self.gateway.verify_pin(pin_id, pin))
        left = int(answer.get("attemptsRemaining") or 0)
        left = min(left, self.limits.pin_attempts - used)
        return VerifyResult(bool(answer.get("verified")), left, str(answer.get("pinError") or ""))

    async def _attempt(self, pin_id: str) -> int:
        """Count a verification; a PIN that expired meanwhile is not brought back (without
        its TTL it would stay forever)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(keys.otp_pin(pin_id), "attempts", 1)
        pipe.pttl(keys.otp_pin(pin_id))
        used, ttl = await pipe.execute()
        if ttl < 0:
            await self.redis.delete(keys.otp_pin(pin_id))
            raise OtpNotFound(f"no PIN {pin_id} (expired or never sent)")
        return int(used)

    async def _record(self, pin_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(keys.otp_pin(pin_id))
        if not raw:
            raise OtpNotFound(f"no PIN {pin_id} (expired or never sent)")
        return {replies.text(k): replies.text(v) for k, v in raw.items()}

    async def _send_allowed(self, app: str, number: str) -> None:
        per_phone, per_app = self.limits.send_per_phone, self.limits.send_per_app
        wait = await self.limiter.otp_send_allowed(app, number, per_phone, per_app)
        if wait:
            raise OtpLimited(f"sends: {per_phone} per phone, {per_app} per app", wait / 1000)

    async def _throughput(self) -> None:
        """One part of the transactional share; short waits are slept."""
        s = self.settings
        take = self.limiter.throughput
        for b in account_buckets(s.rate, s.burst, s.transactional_share, transactional=True):
            while wait := (await take(b.name, b.rate, b.burst, [1], b.reserve))[0]:
                if wait >= THROUGHPUT_MAX_WAIT_MS:
                    raise OtpLimited(f"throughput {b.rate} ({b.name})", wait / 1000)
                await asyncio.sleep(wait / 1000)

    @staticmethod
    async def _gateway(call: Awaitable[T]) -> T:
        try:
            return await call
        except GatewayThrottled as exc:
            raise OtpLimited("the gateway's 2FA limits", exc.retry_after or 1.0) from exc


def limits(settings: config.Settings) -> OtpLimits:
    """The OTP limits: each OTP_* variable that is set, else the gateway's default."""
    return registry.otp_service(settings.provider).defaults.chosen(settings)


def gateway(
    session: aiohttp.ClientSession, settings: config.Settings, chosen: OtpLimits
) -> OtpGateway:
    """The PIN endpoints of the provider that sends one-time PINs."""
    return registry.otp_service(settings.provider).gateway(session, settings, chosen)


async def with_otp(settings: config.Settings, work: Callable[[Otp], Awaitable[T]]) -> T:
    """Open a Redis client and an HTTP session, run `work(Otp)`, close both."""
    client: Any = async_redis(settings.redis_url, cluster=settings.redis_cluster)
    try:
        async with aiohttp.ClientSession() as session:
            return await work(Otp(settings, client, session))
    finally:
        await client.aclose()


def run(settings: config.Settings, work: Callable[[Otp], Awaitable[T]]) -> T:
    """`with_otp` from synchronous code (one event loop per call)."""
    return asyncio.run(with_otp(settings, work))


def create_application(settings: config.Settings, name: str) -> tuple[str, str]:
    """Create a 2FA application (configured with our OTP limits) and its PIN template;
    returns (OTP_APPLICATION_ID, OTP_MESSAGE_ID)."""

    async def create() -> tuple[str, str]:
        async with aiohttp.ClientSession() as session:
            pins = gateway(session, settings, limits(settings))
            return await pins.create_application(name, settings.sender)

    return asyncio.run(create())
