"""Sandbox 2FA: applications, templates, PIN send/resend/verify, pinError cases, 429s."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.sandbox.sandbox_kit import Kit, run, sandbox

TO = "66847781470"
APP_KEY = "App sandbox-key"


async def setup(k: Kit, **config: Any) -> tuple[str, str]:
    status, app = await k.post("/2fa/2/applications", {"name": "login", "configuration": config})
    assert status == 200, app
    template = {
        "pinPlaceholder": "<pin>",
        "messageText": "Your PIN is <pin>",
        "pinLength": 6,
        "pinType": "NUMERIC",
        "senderId": "ANTS",
    }
    status, msg = await k.post(f"/2fa/1/applications/{app['applicationId']}/messages", template)
    assert status == 200, msg
    return app["applicationId"], msg["messageId"]


async def send_pin(k: Kit, app_id: str, msg_id: str, to: str = TO) -> tuple[int, Any, dict]:
    body = {"applicationId": app_id, "messageId": msg_id, "from": "ANTS", "to": to}
    return await k.call("POST", "/2fa/1/pin", body, auth=APP_KEY)


async def pin_of(k: Kit, pin_id: str) -> str:
    return (await k.state("?pins=1"))["otp"]["pins"][pin_id]["pin"]


async def verify(k: Kit, pin_id: str, pin: str) -> tuple[int, Any, dict]:
    return await k.call("POST", f"/2fa/1/pin/{pin_id}/verify", {"pin": pin}, auth=APP_KEY)


def test_applications_create_list_get_update_and_format_errors() -> None:
    async def go() -> None:
        async with sandbox() as k:
            status, app = await k.post("/2fa/2/applications", {"name": "a", "enabled": True})
            assert status == 200
            assert app["configuration"] == {
                "pinAttempts": 10,
                "allowMultiplePinVerifications": True,
                "pinTimeToLive": "15m",
                "verifyPinLimit": "1/3s",
                "sendPinPerApplicationLimit": "10000/1d",
                "sendPinPerPhoneNumberLimit": "3/1d",
            }
            app_id = app["applicationId"]
            assert (await k.get("/2fa/2/applications"))[1] == [app]
            assert (await k.get(f"/2fa/2/applications/{app_id}"))[1] == app
            status, updated, _ = await k.call(
                "PUT", f"/2fa/2/applications/{app_id}", {"configuration": {"pinTimeToLive": "2h"}}
            )
            assert status == 200 and updated["configuration"]["pinTimeToLive"] == "2h"
            status, missing = await k.get("/2fa/2/applications/NOPE")
            assert status == 404
            assert (
                missing["requestError"]["serviceException"]["messageId"] == "APPLICATION_NOT_FOUND"
            )
            bad = [
                ({"configuration": {"pinTimeToLive": "15x"}}, "configuration.pinTimeToLive"),
                ({"configuration": {"verifyPinLimit": "1/3"}}, "configuration.verifyPinLimit"),
                (
                    {"configuration": {"sendPinPerApplicationLimit": "x/1d"}},
                    "configuration.sendPinPerApplicationLimit",
                ),
            ]
            for body, field in bad:
                status, err = await k.post("/2fa/2/applications", {"name": "b", **body})
                assert status == 400
                assert err["requestError"]["serviceException"]["text"].startswith(f"[{field} :")
                status, _, _ = await k.call("PUT", f"/2fa/2/applications/{app_id}", body)
                assert status == 400
            status, err = await k.post("/2fa/2/applications", {"configuration": {}})
            assert status == 400 and "[name : may not be null]" in str(err)

    run(go)


def test_templates_create_list_get_update() -> None:
    async def go() -> None:
        async with sandbox() as k:
            app_id, msg_id = await setup(k)
            base = f"/2fa/1/applications/{app_id}/messages"
            _, listed = await k.get(base)
            assert [t["messageId"] for t in listed] == [msg_id]
            _, one = await k.get(f"{base}/{msg_id}")
            assert one["pinLength"] == 6 and one["pinType"] == "NUMERIC"
            status, upd, _ = await k.call(
                "PUT", f"{base}/{msg_id}", {"pinType": "HEX", "pinLength": 8}
            )
            assert status == 200 and upd["pinType"] == "HEX"
            status, _, _ = await k.call("PUT", f"{base}/{msg_id}", {"pinType": "EMOJI"})
            assert status == 400
            status, _ = await k.post(
                base, {"pinPlaceholder": "<pin>", "messageText": "no placeholder"}
            )
            assert status == 400
            assert (await k.get(f"{base}/NOPE"))[0] == 404

    run(go)


def test_send_and_verify_pin_with_wrong_pin_first() -> None:
    async def go() -> None:
        async with sandbox() as k:
            app_id, msg_id = await setup(k, pinAttempts=3, verifyPinLimit="10/1s")
            status, sent, _ = await send_pin(k, app_id, msg_id)
            assert status == 200
            assert sent["to"] == TO and sent["smsStatus"] == "MESSAGE_SENT" and sent["ncStatus"]
            pin = await pin_of(k, sent["pinId"])
            assert len(pin) == 6 and pin.isdigit()
            _, wrong, _ = await verify(k, sent["pinId"], "x" + pin[1:])
            assert wrong == {
                "pinId": sent["pinId"],
                "msisdn": TO,
                "verified": False,
                "attemptsRemaining": 2,
                "pinError": "WRONG_PIN",
            }
            _, right, _ = await verify(k, sent["pinId"], pin)
            assert right["verified"] is True and right["attemptsRemaining"] == 1
            assert "pinError" not in right
            status, resent, _ = await k.call(
                "POST", f"/2fa/1/pin/{sent['pinId']}/resend", auth=APP_KEY
            )
            assert status == 200 and resent["pinId"] == sent["pinId"]
            otp = (await k.state("?pins=1"))["otp"]
            assert [r["kind"] for r in otp["requests"]] == ["send", "verify", "verify", "resend"]
            assert all(r["monotonic"] > 0 and r["wall"] > 1e9 for r in otp["requests"])

    run(go)


def test_no_more_attempts_and_ttl_expired() -> None:
    async def go() -> None:
        async with sandbox() as k:
            app_id, msg_id = await setup(
                k, pinAttempts=2, verifyPinLimit="10/1s", sendPinPerPhoneNumberLimit="10/1d"
            )
            _, sent, _ = await send_pin(k, app_id, msg_id)
            pin = await pin_of(k, sent["pinId"])
            errors = [(await verify(k, sent["pinId"], p))[1] for p in ("000000x", "111111x", pin)]
            assert [e.get("pinError") for e in errors] == [
                "WRONG_PIN",
                "WRONG_PIN",
                "NO_MORE_PIN_ATTEMPTS",
            ]
            assert [e["attemptsRemaining"] for e in errors] == [1, 0, 0]
            assert errors[2]["verified"] is False
            await k.call(
                "PUT", f"/2fa/2/applications/{app_id}", {"configuration": {"pinTimeToLive": "50ms"}}
            )
            _, sent2, _ = await send_pin(k, app_id, msg_id)
            await asyncio.sleep(0.08)
            _, expired, _ = await verify(k, sent2["pinId"], await pin_of(k, sent2["pinId"]))
            assert expired["pinError"] == "TTL_EXPIRED" and expired["verified"] is False

    run(go)


def test_throttling_per_number_per_application_and_verify() -> None:
    async def go() -> None:
        async with sandbox() as k:
            app_id, msg_id = await setup(k, sendPinPerApplicationLimit="4/1h")
            codes = [(await send_pin(k, app_id, msg_id))[0] for _ in range(4)]
            assert codes == [200, 200, 200, 429]  # 3/1d per phone number
            status, body, headers = await send_pin(k, app_id, msg_id)
            assert status == 429 and int(headers["Retry-After"]) > 0
            assert body == {
                "requestError": {
                    "serviceException": {
                        "messageId": "THROTTLE_EXCEPTION",
                        "text": "Too many requests. Try again later.",
                    }
                }
            }
            assert (await send_pin(k, app_id, msg_id, to="66811111111"))[0] == 200
            assert (await send_pin(k, app_id, msg_id, to="66822222222"))[0] == 429  # 4/1h per app
            pin_id = next(iter((await k.state("?pins=1"))["otp"]["pins"]))
            first, second = [(await verify(k, pin_id, "123456"))[0] for _ in range(2)]
            assert (first, second) == (200, 429)  # verifyPinLimit 1/3s

    run(go)


def test_unknown_app_template_and_pin() -> None:
    async def go() -> None:
        async with sandbox() as k:
            app_id, msg_id = await setup(k)
            assert (await send_pin(k, "NOPE", msg_id))[0] == 404
            assert (await send_pin(k, app_id, "NOPE"))[0] == 404
            assert (await send_pin(k, app_id, msg_id, to="+668"))[0] == 400
            assert (await verify(k, "NOPE", "1234"))[0] == 404

    run(go)
