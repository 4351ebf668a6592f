"""One-time PINs: what a provider's OTP service is (`Spec.otp`).

A gateway with a 2FA API (ANTS) registers an `OtpService`: the client of its PIN
endpoints (`gateway(session, settings, limits)`) and its own defaults for the limits
we enforce in front of it (`defaults`).  `dispatcher.otp` asks the registry for it and
keeps, for each limit, the OTP_* variable when it is set, else the gateway's default
(`OtpLimits.chosen`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from core.limits.spec import Limit


@dataclass(frozen=True, slots=True)
class OtpLimits:
    """The OTP limits, each named after its OTP_* variable."""

    send_per_phone: Limit  # OTP_SEND_PER_PHONE: PINs sent to one number
    send_per_app: Limit  # OTP_SEND_PER_APP: PINs one application sends
    verify_per_phone: Limit  # OTP_VERIFY_PER_PHONE: verifications for one number
    pin_attempts: int  # OTP_PIN_ATTEMPTS: wrong PINs before a PIN is spent
    pin_ttl_ms: int  # OTP_PIN_TTL: how long a PIN lives

    def chosen(self, settings: Any) -> OtpLimits:
        """These defaults, with each OTP_* variable that is set (`settings.otp_*` not None)
        in its place."""
        changes = {
            field.name: value
            for field in dataclasses.fields(self)
            if (value := getattr(settings, f"otp_{field.name}")) is not None
        }
        return dataclasses.replace(self, **changes)


class OtpGateway(Protocol):
    """A gateway's PIN endpoints; its refusals raise their `core.errors` types."""

    async def send_pin(self, application: str, message: str, to: str) -> str:
        """Sends a PIN to `to` (international digits); returns its pinId."""
        ...

    async def resend_pin(self, pin_id: str) -> None: ...

    async def verify_pin(self, pin_id: str, pin: str) -> dict[str, Any]:
        """{verified, attemptsRemaining, pinError?, ...}"""
        ...

    async def create_application(self, name: str, sender: str) -> tuple[str, str]:
        """A 2FA application configured with our limits, and its PIN template:
        (application id, message template id)."""
        ...


GatewayFactory = Callable[[Any, Any, OtpLimits], OtpGateway]  # (session, Settings, limits)


@dataclass(frozen=True, slots=True)
class OtpService:
    gateway: GatewayFactory
    defaults: OtpLimits  # the gateway's own defaults for the limits we enforce
