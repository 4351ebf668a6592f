"""ANTS 2FA (OTP): applications, message templates, PIN send / resend / verify over HTTP.

The one boundary where aiohttp's exceptions and the 2FA endpoints' HTTP errors
become `core.errors` types: 404 -> OtpNotFound, 429 -> GatewayThrottled
(with Retry-After), 401/403 -> GatewayAuthError, 400 -> GatewayRequestError,
5xx -> GatewayServerError, no connection -> GatewayConnectError, no answer ->
GatewayTimeout, an unreadable body -> GatewayProtocolError.

`DEFAULTS` are the 2FA application defaults of the ANTS document (pinAttempts 10,
pinTimeToLive 15m, verifyPinLimit 1/3s, sendPinPerApplicationLimit 10000/1d,
sendPinPerPhoneNumberLimit 3/1d): our limits in front of the gateway when no OTP_*
variable says otherwise, and what `create_application` configures then.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from config.settings import Settings
from core.errors import (
    GatewayProtocolError,
    OtpNotFound,
)
from core.limits.spec import Limit
from providers import http
from providers.ants import codes
from providers.ants.auth import auth_header
from providers.ants.sender import JSON_HEADERS, check
from providers.otp import OtpLimits

APPLICATIONS_PATH = "/2fa/2/applications"
MESSAGES_PATH = "/2fa/1/applications/{app}/messages"
PIN_PATH = "/2fa/1/pin"
RESEND_PATH = "/2fa/1/pin/{pin_id}/resend"
VERIFY_PATH = "/2fa/1/pin/{pin_id}/verify"
PIN_PLACEHOLDER = "{{pin}}"
DEFAULT_TEMPLATE = f"Your verification code is {PIN_PLACEHOLDER}"
PIN_LENGTH = 6
DAY_MS = 86_400_000
DEFAULTS = OtpLimits(
    send_per_phone=Limit(3, DAY_MS),
    send_per_app=Limit(10_000, DAY_MS),
    verify_per_phone=Limit(1, 3_000),
    pin_attempts=10,
    pin_ttl_ms=15 * 60_000,
)

Json = dict[str, Any]


def application_config(limits: OtpLimits) -> Json:
    """The 2FA application configuration matching our own OTP limits."""
    return {
        "pinAttempts": limits.pin_attempts,
        "allowMultiplePinVerifications": False,
        "pinTimeToLive": f"{limits.pin_ttl_ms // 1000}s",
        "verifyPinLimit": str(limits.verify_per_phone),
        "sendPinPerApplicationLimit": str(limits.send_per_app),
        "sendPinPerPhoneNumberLimit": str(limits.send_per_phone),
    }


class AntsOtp:
    def __init__(
        self, session: aiohttp.ClientSession, settings: Settings, limits: OtpLimits
    ) -> None:
        self.session = session
        self.settings = settings
        self.limits = limits
        self.headers = {**JSON_HEADERS, "Authorization": auth_header(settings)}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    async def send_pin(self, application: str, message: str, to: str) -> str:
        """POST /2fa/1/pin: sends a PIN to `to` (international digits); returns its pinId."""
        body = {"applicationId": application, "messageId": message, "to": to}
        answer = await self._call("POST", PIN_PATH, body)
        return _field(answer, "pinId")

    async def resend_pin(self, pin_id: str) -> None:
        await self._call("POST", RESEND_PATH.format(pin_id=pin_id), {})

    async def verify_pin(self, pin_id: str, pin: str) -> Json:
        """{pinId, msisdn, verified, attemptsRemaining, pinError?}"""
        return await self._call("POST", VERIFY_PATH.format(pin_id=pin_id), {"pin": pin})

    async def create_application(self, name: str, sender: str) -> tuple[str, str]:
        """A 2FA application configured from the settings and its template: (app id, msg id)."""
        config = application_config(self.limits)
        app = await self._call("POST", APPLICATIONS_PATH, {"name": name, "configuration": config})
        app_id = _field(app, "applicationId")
        template = {
            "pinType": "NUMERIC",
            "pinLength": PIN_LENGTH,
            "senderId": sender,
            "pinPlaceholder": PIN_PLACEHOLDER,
            "messageText": DEFAULT_TEMPLATE,
        }
        message = await self._call("POST", MESSAGES_PATH.format(app=app_id), template)
        return app_id, _field(message, "messageId")

    async def _call(self, method: str, path: str, body: Json) -> Json:
        url = self.settings.ants_base_url + path
        reply = await http.request(
            self.session,
            method,
            url,
            timeout=self.timeout,
            headers=self.headers,
            data=orjson.dumps(body),
        )
        if reply.status == 404:
            raise OtpNotFound(f"{path}: {codes.service_exception(reply.body)[1] or 'not found'}")
        raw = check(reply)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise GatewayProtocolError(f"unreadable 2FA answer from {path}: {exc}") from exc
        if not isinstance(answer, dict):
            raise GatewayProtocolError(f"2FA answer from {path} is not an object")
        return answer


def _field(answer: Json, name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise GatewayProtocolError(f"2FA answer without {name}: {str(answer)[:200]}")
    return value.strip()
