"""2FA/OTP: applications, message templates, and PIN send / resend / verify, with the
application's own limits (sendPinPerApplicationLimit, sendPinPerPhoneNumberLimit,
verifyPinLimit) enforced by in-memory sliding windows -> 429 THROTTLE_EXCEPTION.

Methods return (HTTP status, JSON body, extra headers); `sandbox.app` only wires them.
PIN records live in the state (and show up in /_sandbox/state?pins=1).
"""

from __future__ import annotations

import string
import time
from typing import Any

from sandbox.limits import (
    LIMIT_FORMAT_ERROR,
    TIME_FORMAT_ERROR,
    Limit,
    SlidingWindows,
    parse_limit,
    parse_time,
)
from sandbox.state import OtpRequest, PinRecord, SandboxState
from sandbox.statuses import service_error
from sandbox.validation import valid_number

Json = dict[str, Any]
Answer = tuple[int, Any, dict[str, str]]

DEFAULT_CONFIGURATION: Json = {
    "pinAttempts": 10,
    "allowMultiplePinVerifications": True,
    "pinTimeToLive": "15m",
    "verifyPinLimit": "1/3s",
    "sendPinPerApplicationLimit": "10000/1d",
    "sendPinPerPhoneNumberLimit": "3/1d",
}
LIMIT_KEYS = ("verifyPinLimit", "sendPinPerApplicationLimit", "sendPinPerPhoneNumberLimit")
PIN_ALPHABETS = {
    "NUMERIC": string.digits,
    "ALPHA": string.ascii_uppercase,
    "ALPHANUMERIC": string.ascii_uppercase + string.digits,
    "HEX": "0123456789ABCDEF",
}
THROTTLED = service_error("THROTTLE_EXCEPTION", "Too many requests. Try again later.")
APP_NOT_FOUND = service_error("APPLICATION_NOT_FOUND", "Application with given id cannot be found.")
MESSAGE_NOT_FOUND = service_error("MESSAGE_NOT_FOUND", "Message with given id cannot be found.")
PIN_NOT_FOUND = service_error("PIN_NOT_FOUND", "Pin with given id cannot be found.")


def bad(text: str) -> Answer:
    return 400, service_error("BAD_REQUEST", text), {}


def check_configuration(config: Any) -> str | None:
    """The ANTS 400 text for a bad configuration object, or None."""
    if not isinstance(config, dict):
        return "[configuration : must be an object]"
    attempts = config.get("pinAttempts", 1)
    if type(attempts) is not int or attempts < 1:
        return "[configuration.pinAttempts : must be a positive integer]"
    if type(config.get("allowMultiplePinVerifications", True)) is not bool:
        return "[configuration.allowMultiplePinVerifications : must be a boolean]"
    if "pinTimeToLive" in config and parse_time(config["pinTimeToLive"]) is None:
        return f"[configuration.pinTimeToLive : {TIME_FORMAT_ERROR}]"
    for key in LIMIT_KEYS:
        if key in config and parse_limit(config[key]) is None:
            return f"[configuration.{key} : {LIMIT_FORMAT_ERROR}]"
    return None


def check_template(body: Any) -> str | None:
    """The 400 text for a bad message template, or None."""
    if not isinstance(body, dict):
        return "[body : must be a JSON object]"
    placeholder, text = body.get("pinPlaceholder"), body.get("messageText")
    if type(placeholder) is not str or not placeholder:
        return "[pinPlaceholder : may not be null]"
    if type(text) is not str or placeholder not in text:
        return "[messageText : must contain pinPlaceholder]"
    length = body.get("pinLength", 4)
    if type(length) is not int or not 1 <= length <= 50:
        return "[pinLength : must be an integer from 1 to 50]"
    if body.get("pinType", "NUMERIC") not in PIN_ALPHABETS:
        return "[pinType : must be one of NUMERIC, ALPHA, ALPHANUMERIC, HEX]"
    sender = body.get("senderId")
    if sender is not None and (type(sender) is not str or not sender):
        return "[senderId : must be a string]"
    return None


class OtpService:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.clear()

    def clear(self) -> None:
        self.apps: dict[str, Json] = {}
        self.templates: dict[str, dict[str, Json]] = {}  # applicationId -> messageId -> template
        self.windows = SlidingWindows()

    def _id(self, n: int = 32) -> str:
        return "".join(self.state.rng_otp.choices("0123456789ABCDEF", k=n))

    # -- applications -------------------------------------------------------------------

    def create_app(self, body: Any) -> Answer:
        if not isinstance(body, dict) or type(body.get("name")) is not str or not body["name"]:
            return bad("[name : may not be null]")
        config = {**DEFAULT_CONFIGURATION, **(body.get("configuration") or {})}
        problem = check_configuration(config)
        if problem:
            return bad(problem)
        app_id = self._id()
        self.apps[app_id] = {
            "applicationId": app_id,
            "name": body["name"],
            "configuration": config,
            "enabled": bool(body.get("enabled", True)),
            "processId": self._id(),
        }
        self.templates[app_id] = {}
        return 200, self.apps[app_id], {}

    def list_apps(self) -> Answer:
        return 200, list(self.apps.values()), {}

    def get_app(self, app_id: str) -> Answer:
        app = self.apps.get(app_id)
        return (200, app, {}) if app else (404, APP_NOT_FOUND, {})

    def update_app(self, app_id: str, body: Any) -> Answer:
        app = self.apps.get(app_id)
        if app is None:
            return 404, APP_NOT_FOUND, {}
        if not isinstance(body, dict):
            return bad("[body : must be a JSON object]")
        config = {**app["configuration"], **(body.get("configuration") or {})}
        problem = check_configuration(config)
        if problem:
            return bad(problem)
        app["configuration"] = config
        if type(body.get("name")) is str and body["name"]:
            app["name"] = body["name"]
        if type(body.get("enabled")) is bool:
            app["enabled"] = body["enabled"]
        return 200, app, {}

    # -- message templates --------------------------------------------------------------

    def create_template(self, app_id: str, body: Any) -> Answer:
        if app_id not in self.apps:
            return 404, APP_NOT_FOUND, {}
        problem = check_template(body)
        if problem:
            return bad(problem)
        message_id = self._id()
        template = {"pinLength": 4, "pinType": "NUMERIC", **body}
        template.update(messageId=message_id, applicationId=app_id)
        self.templates[app_id][message_id] = template
        return 200, template, {}

    def list_templates(self, app_id: str) -> Answer:
        if app_id not in self.apps:
            return 404, APP_NOT_FOUND, {}
        return 200, list(self.templates[app_id].values()), {}

    def get_template(self, app_id: str, message_id: str) -> Answer:
        if app_id not in self.apps:
            return 404, APP_NOT_FOUND, {}
        template = self.templates[app_id].get(message_id)
        return (200, template, {}) if template else (404, MESSAGE_NOT_FOUND, {})

    def update_template(self, app_id: str, message_id: str, body: Any) -> Answer:
        status, template, _ = self.get_template(app_id, message_id)
        if status != 200:
            return status, template, {}
        merged = {**template, **(body if isinstance(body, dict) else {})}
        problem = check_template(merged) if isinstance(body, dict) else "[body : must be an object]"
        if problem:
            return bad(problem)
        merged.update(messageId=message_id, applicationId=app_id)
        self.templates[app_id][message_id] = merged
        return 200, merged, {}

    # -- PINs ---------------------------------------------------------------------------

    def _throttled(self, key: str, limit: Limit, now: float) -> Answer | None:
        if self.windows.hit(key, limit, now):
            return None
        wait = self.windows.retry_after(key, limit, now)
        return 429, THROTTLED, {"Retry-After": str(max(1, round(wait + 0.5)))}

    def _send_limits(self, app: Json, to: str, now: float) -> Answer | None:
        config, app_id = app["configuration"], app["applicationId"]
        per_app = parse_limit(config["sendPinPerApplicationLimit"])
        per_number = parse_limit(config["sendPinPerPhoneNumberLimit"])
        assert per_app is not None and per_number is not None
        return self._throttled(f"send:{app_id}:{to}", per_number, now) or self._throttled(
            f"sendapp:{app_id}", per_app, now
        )

    def _record(self, kind: str, pin_id: str, to: str, answer: Answer, t: tuple) -> Answer:
        self.state.otp_requests.append(OtpRequest(kind, pin_id, to, answer[0], t[0], t[1]))
        return answer

    def send_pin(self, body: Any, arrived: tuple[float, float]) -> Answer:
        answer = self._send_pin(body, arrived)
        data = answer[1] if answer[0] == 200 else {}
        to = body.get("to", "") if isinstance(body, dict) else ""
        return self._record("send", data.get("pinId", ""), str(to), answer, arrived)

    def _send_pin(self, body: Any, arrived: tuple[float, float]) -> Answer:
        if not isinstance(body, dict):
            return bad("[body : must be a JSON object]")
        app = self.apps.get(body.get("applicationId"))  # type: ignore[arg-type]
        if app is None:
            return 404, APP_NOT_FOUND, {}
        template = self.templates[app["applicationId"]].get(body.get("messageId"))  # type: ignore[arg-type]
        if template is None:
            return 404, MESSAGE_NOT_FOUND, {}
        to = body.get("to")
        if not valid_number(to):
            return bad("[to : must be digits in international format without '+']")
        if not app["enabled"]:
            return bad("[applicationId : application is disabled]")
        throttled = self._send_limits(app, to, arrived[0])
        if throttled:
            return throttled
        record = self._new_pin(app, template, to, arrived)
        return 200, self._sent(record), {}

    def _new_pin(self, app: Json, template: Json, to: str, arrived: tuple) -> PinRecord:
        config = app["configuration"]
        alphabet = PIN_ALPHABETS[template["pinType"]]
        pin = "".join(self.state.rng_otp.choices(alphabet, k=template["pinLength"]))
        ttl = parse_time(config["pinTimeToLive"]) or 900.0
        record = PinRecord(
            pin_id=self._id(),
            application_id=app["applicationId"],
            message_id=template["messageId"],
            to=to,
            pin=pin,
            expires_at=arrived[0] + ttl,
            attempts_left=config["pinAttempts"],
            sent_at_mono=arrived[0],
            sent_at_wall=arrived[1],
        )
        self.state.pins[record.pin_id] = record
        return record

    @staticmethod
    def _sent(record: PinRecord) -> Json:
        return {
            "pinId": record.pin_id,
            "to": record.to,
            "ncStatus": "NC_DESTINATION_REACHABLE",
            "smsStatus": "MESSAGE_SENT",
        }

    def resend_pin(self, pin_id: str, arrived: tuple[float, float]) -> Answer:
        record = self.state.pins.get(pin_id)
        if record is None:
            return self._record("resend", pin_id, "", (404, PIN_NOT_FOUND, {}), arrived)
        app = self.apps[record.application_id]
        answer = self._send_limits(app, record.to, arrived[0])
        if answer is None:
            record.resends += 1
            answer = 200, self._sent(record), {}
        return self._record("resend", pin_id, record.to, answer, arrived)

    def verify_pin(self, pin_id: str, body: Any, arrived: tuple[float, float]) -> Answer:
        record = self.state.pins.get(pin_id)
        if record is None:
            return self._record("verify", pin_id, "", (404, PIN_NOT_FOUND, {}), arrived)
        answer = self._verify(record, body, arrived[0])
        return self._record("verify", pin_id, record.to, answer, arrived)

    def _verify(self, record: PinRecord, body: Any, now: float) -> Answer:
        pin = body.get("pin") if isinstance(body, dict) else None
        if type(pin) is not str or not pin:
            return bad("[pin : may not be null]")
        config = self.apps[record.application_id]["configuration"]
        limit = parse_limit(config["verifyPinLimit"])
        assert limit is not None
        throttled = self._throttled(f"verify:{record.application_id}:{record.to}", limit, now)
        if throttled:
            return throttled
        return 200, self._check_pin(record, pin.strip(), config, now), {}

    @staticmethod
    def _check_pin(record: PinRecord, pin: str, config: Json, now: float) -> Json:
        answer: Json = {"pinId": record.pin_id, "msisdn": record.to, "verified": False}
        repeat_forbidden = record.verified and not config["allowMultiplePinVerifications"]
        if record.attempts_left <= 0 or repeat_forbidden:
            answer.update(attemptsRemaining=0, pinError="NO_MORE_PIN_ATTEMPTS")
        elif now > record.expires_at:
            answer.update(attemptsRemaining=record.attempts_left, pinError="TTL_EXPIRED")
        else:
            record.attempts_left -= 1
            answer["attemptsRemaining"] = record.attempts_left
            if pin.upper() == record.pin:
                record.verified = answer["verified"] = True
            else:
                answer["pinError"] = "WRONG_PIN"
        return answer


def arrival() -> tuple[float, float]:
    """(monotonic, wall) now: when a 2FA request arrived."""
    return time.monotonic(), time.time()
