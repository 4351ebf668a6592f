"""Sandbox fault injection: 500 share, 429 bursts, timeouts after accepting, injected statuses."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from sandbox.settings import FaultSettings, InjectRule, SandboxSettings
from tests.sandbox.sandbox_kit import BASIC, message, run, sandbox

N = ["66800000001", "66800000002", "66800000003", "66800000007"]


def with_faults(**faults: object) -> SandboxSettings:
    return SandboxSettings(faults=FaultSettings(**faults))  # type: ignore[arg-type]


def test_http_500_share_accepts_nothing() -> None:
    async def go() -> None:
        async with sandbox(with_faults(error_share=1.0)) as k:
            status, body = await k.advanced(message(N[0], ids=["e-1"]))
            assert status == 500 and "requestError" in body
            state = await k.state()
            assert state["acceptedMessages"] == 0 and state["http"]["500"] == 1

    run(go)


def test_500_share_is_reproducible_from_the_seed() -> None:
    async def outcomes() -> list[int]:
        async with sandbox(with_faults(error_share=0.5)) as k:
            return [(await k.advanced(message(N[0], text=f"t{i}")))[0] for i in range(12)]

    first, second = run(outcomes), run(outcomes)
    assert first == second and {200, 500} == set(first)


def test_429_bursts_with_retry_after() -> None:
    async def go() -> None:
        async with sandbox(with_faults(throttle_every=3, throttle_burst=2, retry_after_s=7)) as k:
            answers = [
                await k.call(
                    "POST", "/sms/1/text/advanced", {"messages": [message(N[0], text=f"{i}")]}
                )
                for i in range(7)
            ]
            assert [a[0] for a in answers] == [200, 200, 429, 429, 200, 429, 429]
            _, body, headers = answers[2]
            assert headers["Retry-After"] == "7"
            assert body["requestError"]["serviceException"]["messageId"] == "THROTTLE_EXCEPTION"
            assert (await k.state())["acceptedMessages"] == 3

    run(go)


def test_429_switched_on_at_runtime_through_control_endpoint() -> None:
    async def go() -> None:
        async with sandbox() as k:
            assert (await k.advanced(message(N[0])))[0] == 200
            status, faults = await k.post("/_sandbox/faults", {"throttle_share": 1.0}, auth=None)
            assert status == 200 and faults["throttle_share"] == 1.0
            assert (await k.advanced(message(N[1])))[0] == 429
            status, err = await k.post("/_sandbox/faults", {"no_such_knob": 1}, auth=None)
            assert status == 400 and "no_such_knob" in str(err)

    run(go)


def test_timeout_after_accept_is_recorded_and_retry_is_duplicate() -> None:
    async def go() -> None:
        async with sandbox(with_faults(timeout_share=1.0, timeout_sleep_s=0.6)) as k:
            body = orjson.dumps({"messages": [message(N[0], N[1], ids=["t-1", "t-2"])]})
            headers = {"Authorization": BASIC, "Content-Type": "application/json"}
            with pytest.raises(TimeoutError):
                await k.client.post(
                    "/sms/1/text/advanced",
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=0.2),
                )
            state = await k.state("?ids=1")
            assert state["accepted"] == {"t-1": 1, "t-2": 1}
            assert state["timeouts"] == [
                {"bulkId": state["timeouts"][0]["bulkId"], "accepted": 2, "mode": "sleep"}
            ]
            assert state["acceptedInTimeouts"] == ["t-1", "t-2"]
            await k.post("/_sandbox/faults", {"timeout_share": 0.0}, auth=None)
            _, retry = await k.advanced(message(N[0], N[1], ids=["t-1", "t-2"]))
            assert [m["status"]["id"] for m in retry["messages"]] == [23, 23]
            assert (await k.state("?ids=1"))["accepted"] == {"t-1": 1, "t-2": 1}

    run(go)


def test_timeout_drop_mode_closes_the_connection_after_accepting() -> None:
    async def go() -> None:
        async with sandbox(with_faults(timeout_share=1.0, timeout_mode="drop")) as k:
            with pytest.raises(aiohttp.ClientError):
                await k.advanced(message(N[0], ids=["x-1"]))
            state = await k.state("?ids=1")
            assert state["accepted"] == {"x-1": 1}
            assert state["timeouts"][0]["mode"] == "drop"

    run(go)


def test_injected_status_once_per_number_then_accepted() -> None:
    rule = InjectRule(status="REJECTED_SYSTEM_ERROR", suffixes=("7",), times=1)

    async def go() -> None:
        async with sandbox(with_faults(inject=[rule])) as k:
            _, first = await k.advanced(message(*N, ids=["i-1", "i-2", "i-3", "i-7"]))
            assert [m["status"]["id"] for m in first["messages"]] == [26, 26, 26, 21]
            _, again = await k.advanced(message(N[3], ids=["i-7"]))
            assert again["messages"][0]["status"]["id"] == 26
            state = await k.state("?ids=1")
            assert state["injected"] == {N[3]: 1}
            assert state["accepted"]["i-7"] == 1 and state["seen"]["i-7"] == 2

    run(go)


def test_inject_rule_through_control_endpoint_and_latency() -> None:
    async def go() -> None:
        async with sandbox() as k:
            rules = {
                "inject": [{"status": "REJECTED_NETWORK", "numbers": [N[0]], "times": 2}],
                "latency_ms": 5,
                "jitter_ms": 5,
            }
            status, _ = await k.post("/_sandbox/faults", rules, auth=None)
            assert status == 200
            ids = []
            for _ in range(3):
                ids.append(
                    (await k.advanced(message(N[0], text=f"{len(ids)}")))[1]["messages"][0][
                        "status"
                    ]["id"]
                )
            assert ids == [6, 6, 26]
            bad = {"inject": [{"status": "NOT_A_STATUS"}]}
            assert (await k.post("/_sandbox/faults", bad, auth=None))[0] == 400

    run(go)
