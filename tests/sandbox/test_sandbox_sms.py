"""Sandbox gateway: auth, validation, per-destination answers, duplicates, flooding, credit."""

from __future__ import annotations

import base64

from sandbox.settings import SandboxSettings
from sandbox.statuses import OUTCOMES
from tests.sandbox.sandbox_kit import message, run, sandbox

NUMBERS = [f"668477814{i:02d}" for i in range(10)]


def status_ids(answer: dict) -> list[int]:
    return [m["status"]["id"] for m in answer["messages"]]


def test_auth_basic_app_key_and_401s() -> None:
    async def go() -> None:
        async with sandbox() as k:
            assert (await k.get("/account/1/balance"))[0] == 200
            assert (await k.get("/account/1/balance", auth="App sandbox-key"))[0] == 200
            wrong = "Basic " + base64.b64encode(b"sandbox:nope").decode()
            for auth in (None, wrong, "App other-key", "Bearer x", "Basic !!!"):
                status, body = await k.get("/account/1/balance", auth=auth)
                assert status == 401
                assert body["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"
            status, _ = await k.post("/sms/1/text/advanced", {"messages": []}, auth=None)
            assert status == 401
            assert (await k.state())["http"]["401"] == 6

    run(go)


def test_validation_names_the_bad_field() -> None:
    cases = [
        ({"messages": []}, "messages"),
        ({"bulkId": "x" * 101, "messages": [message(NUMBERS[0])]}, "bulkId"),
        (
            {"messages": [message(NUMBERS[0])] * 3 + [message("+66847781470")]},
            "messages[3].destinations[0].to",
        ),
        ({"messages": [message("12345")]}, "messages[0].destinations[0].to"),
        ({"messages": [message("1234567890123456")]}, "messages[0].destinations[0].to"),
        (
            {"messages": [message(NUMBERS[0], NUMBERS[1], ids=["a", "x" * 201])]},
            "messages[0].destinations[1].messageId",
        ),
        ({"messages": [{**message(NUMBERS[0]), "from": "Info SMS"}]}, "messages[0].from"),
        ({"messages": [{**message(NUMBERS[0]), "from": "TwelveChars!"}]}, "messages[0].from"),
        (
            {"messages": [{**message(NUMBERS[0]), "validityPeriod": 2881}]},
            "messages[0].validityPeriod",
        ),
        ({"messages": [{"destinations": [{"to": NUMBERS[0]}]}]}, "messages[0].text"),
        ({"messages": [{"text": "hi", "destinations": []}]}, "messages[0].destinations"),
    ]

    async def go() -> None:
        async with sandbox() as k:
            for body, field in cases:
                status, answer = await k.post("/sms/1/text/advanced", body)
                assert status == 400, field
                error = answer["requestError"]["serviceException"]
                assert error["messageId"] == "BAD_REQUEST"
                assert error["text"].startswith(f"[{field} :"), (field, error["text"])
            state = await k.state()
            assert state["acceptedMessages"] == 0 and state["destinationsReceived"] == 0

    run(go)


def test_per_destination_answers_and_sms_count() -> None:
    gsm160, gsm161 = "a" * 160, "a" * 161
    thai70, thai71 = "ก" * 70, "ก" * 71

    async def go() -> None:
        async with sandbox() as k:
            status, answer = await k.advanced(
                message(NUMBERS[0], NUMBERS[1], text=gsm160, ids=["m-1"]),
                message(NUMBERS[2], text=gsm161),
                message(NUMBERS[3], text=thai70),
                message(NUMBERS[4], text=thai71),
                message(NUMBERS[5], text="{" * 81),  # extension chars count twice: 162
                bulk_id="BULK-1",
            )
            assert status == 200 and answer["bulkId"] == "BULK-1"
            msgs = answer["messages"]
            assert [m["to"] for m in msgs] == NUMBERS[:6]
            assert [m["smsCount"] for m in msgs] == [1, 1, 2, 1, 2, 2]
            assert msgs[0]["messageId"] == "m-1" and msgs[1]["messageId"]
            assert {m["status"]["name"] for m in msgs} == {"PENDING_ACCEPTED"}
            assert msgs[0]["status"]["groupId"] == 1 and msgs[0]["status"]["id"] == 26
            state = await k.state("?ids=1")
            assert state["acceptedMessages"] == 6 and state["acceptedParts"] == 9
            assert state["accepted"]["m-1"] == 1
            assert sum(state["partsPerSecond"].values()) == 9

    run(go)


def test_accepted_status_can_be_group_0() -> None:
    async def go() -> None:
        async with sandbox(SandboxSettings(accept_status="ACCEPTED")) as k:
            _, answer = await k.advanced(message(NUMBERS[0]))
            assert answer["messages"][0]["status"]["name"] == "MESSAGE_ACCEPTED"
            assert answer["messages"][0]["status"]["groupId"] == 0

    run(go)


def test_duplicate_message_id_is_23_and_counted_once() -> None:
    async def go() -> None:
        async with sandbox() as k:
            _, first = await k.advanced(message(NUMBERS[0], NUMBERS[1], ids=["d-1", "d-1"]))
            assert status_ids(first) == [26, 23]
            _, again = await k.advanced(message(NUMBERS[0], ids=["d-1"]))
            assert status_ids(again) == [23]
            assert again["messages"][0]["status"]["name"] == "REJECTED_DUPLICATE_MESSAGE_ID"
            state = await k.state("?ids=1")
            assert state["accepted"] == {"d-1": 1}
            assert state["seen"] == {"d-1": 3}
            assert state["statuses"]["REJECTED_DUPLICATE_MESSAGE_ID"] == 2
            assert state["balance"] == SandboxSettings().credit - 1

    run(go)


def test_too_long_text_is_25() -> None:
    async def go() -> None:
        async with sandbox() as k:
            _, answer = await k.advanced(
                message(NUMBERS[0], text="a" * (153 * 25 + 1)),
                message(NUMBERS[1], text="a" * (153 * 25)),
            )
            assert status_ids(answer) == [25, 26]
            assert answer["messages"][0]["smsCount"] == 26

    run(go)


def test_flooding_filter_varied_and_identical() -> None:
    settings = SandboxSettings()
    settings.flooding.varied, settings.flooding.identical = "5/1m", "2/1m"

    async def go() -> None:
        async with sandbox(settings) as k:
            same = [(await k.advanced(message(NUMBERS[0], text="same")))[1] for _ in range(3)]
            assert [status_ids(a)[0] for a in same] == [26, 26, 20]
            varied = [(await k.advanced(message(NUMBERS[0], text=f"t{i}")))[1] for i in range(4)]
            assert [status_ids(a)[0] for a in varied] == [26, 26, 26, 20]
            _, other = await k.advanced(message(NUMBERS[1], text="same"))
            assert status_ids(other) == [26]
            state = await k.state()
            assert state["floodRejections"] == 2
            assert state["floodRejectionsByNumber"] == {NUMBERS[0]: 2}
            assert state["statuses"]["REJECTED_FLOODING_FILTER"] == 2

    run(go)


def test_bad_prefix_and_blacklist() -> None:
    settings = SandboxSettings(bad_prefixes=("999",), blacklist=frozenset({NUMBERS[1]}))

    async def go() -> None:
        async with sandbox(settings) as k:
            _, answer = await k.advanced(message("99912345678", NUMBERS[1], NUMBERS[2]))
            assert status_ids(answer) == [8, 14, 26]

    run(go)


def test_credit_exhaustion_is_12_then_top_up_resumes() -> None:
    async def go() -> None:
        async with sandbox(SandboxSettings(credit=3)) as k:
            _, answer = await k.advanced(
                message(*NUMBERS[:5], ids=[f"c-{i}" for i in range(5)]),
            )
            assert status_ids(answer) == [26, 26, 26, 12, 12]
            assert (await k.get("/account/1/balance"))[1] == {"balance": 0.0, "currency": "THB"}
            status, topped = await k.post("/_sandbox/balance", {"add": 10}, auth=None)
            assert status == 200 and topped == {"balance": 10.0}
            _, retry = await k.advanced(message(*NUMBERS[3:5], ids=["c-3", "c-4"]))
            assert status_ids(retry) == [26, 26]
            state = await k.state("?ids=1")
            assert state["accepted"] == {f"c-{i}": 1 for i in range(5)}
            assert state["balance"] == 8.0

    run(go)


def test_single_endpoint_string_and_array() -> None:
    async def go() -> None:
        async with sandbox() as k:
            status, one = await k.post(
                "/sms/1/text/single", {"from": "Shop", "to": NUMBERS[0], "text": "สวัสดี"}
            )
            assert status == 200 and len(one["messages"]) == 1 and one["bulkId"]
            _, many = await k.post("/sms/1/text/single", {"to": NUMBERS[:3], "text": "hi"})
            assert [m["to"] for m in many["messages"]] == NUMBERS[:3]
            status, bad = await k.post(
                "/sms/1/text/single", {"to": ["66847781470", "1"], "text": "x"}
            )
            assert status == 400 and "[to[1] :" in bad["requestError"]["serviceException"]["text"]

    run(go)


def test_preview() -> None:
    text = "Let's see how many characters will remain unused in this message."

    async def go() -> None:
        async with sandbox() as k:
            _, answer = await k.post("/sms/1/preview", {"text": text})
            assert answer["originalText"] == text
            assert answer["previews"][0] == {
                "textPreview": text,
                "messageCount": 1,
                "charactersRemaining": 95,
                "configuration": {},
            }
            _, thai = await k.post("/sms/1/preview", {"text": "ก" * 71})
            assert thai["previews"][0]["messageCount"] == 2
            assert thai["previews"][0]["charactersRemaining"] == 2 * 67 - 71

    run(go)


def test_reset_forgets_everything() -> None:
    async def go() -> None:
        async with sandbox() as k:
            await k.advanced(message(NUMBERS[0], ids=["r-1"]))
            await k.post("/_sandbox/reset", auth=None)
            _, answer = await k.advanced(message(NUMBERS[0], ids=["r-1"]))
            assert status_ids(answer) == [26]
            assert (await k.state())["acceptedMessages"] == 1

    run(go)


def test_start_serves_on_a_real_port() -> None:
    import aiohttp

    from sandbox.server import bound_port, start
    from tests.sandbox.sandbox_kit import BASIC

    async def go() -> None:
        runner, state = await start("127.0.0.1", 0, SandboxSettings())
        try:
            url = f"http://127.0.0.1:{bound_port(runner)}/account/1/balance"
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, headers={"Authorization": BASIC}) as resp,
            ):
                assert resp.status == 200
            assert state.http[200] == 1
        finally:
            await runner.cleanup()

    run(go)


# -- dedupe_ids ------------------------------------------------------------------------------


def test_dedupe_on_is_23_and_nothing_is_counted_twice() -> None:
    async def go() -> None:
        async with sandbox() as k:
            assert (await k.get("/_sandbox/settings", auth=None))[1]["dedupe_ids"] is True
            _, first = await k.advanced(message(NUMBERS[0], ids=["u-1"]))
            _, again = await k.advanced(message(NUMBERS[0], ids=["u-1"]))
            assert status_ids(first) == [26] and status_ids(again) == [23]
            await k.sandbox.dlr.flush()
            state = await k.state("?ids=1")
            assert state["accepted"] == {"u-1": 1} and state["seen"] == {"u-1": 2}
            assert state["acceptedMoreThanOnce"] == 0 and state["doubleSends"] == 0
            assert state["balance"] == SandboxSettings().credit - 1
            assert len((await k.get("/sms/1/reports"))[1]["results"]) == 1

    run(go)


def test_dedupe_off_accepts_bills_floods_reports_and_counts_again() -> None:
    settings = SandboxSettings()
    settings.flooding.identical = "3/1m"
    settings.dlr.delay_ms = 0

    async def go() -> None:
        async with sandbox(settings) as k:
            status, body = await k.post("/_sandbox/settings", {"dedupe_ids": False}, auth=None)
            assert status == 200 and body["dedupe_ids"] is False
            _, first = await k.advanced(message(NUMBERS[0], ids=["u-1"]))
            _, second = await k.advanced(message(NUMBERS[0], NUMBERS[1], ids=["u-1", "u-2"]))
            assert status_ids(first) == [26] and status_ids(second) == [26, 26]
            assert second["messages"][0]["messageId"] == "u-1"
            state = await k.state("?ids=1")
            assert state["accepted"] == {"u-1": 2, "u-2": 1}
            assert state["seen"] == {"u-1": 2, "u-2": 1}
            assert state["acceptedMessages"] == 2 and state["acceptedMoreThanOnce"] == 1
            assert state["doubleSends"] == 1 and state["seenMoreThanOnce"] == 1
            assert state["statuses"] == {"PENDING_ACCEPTED": 3}
            assert state["balance"] == settings.credit - 3  # billed twice for u-1
            assert state["acceptedParts"] == 3
            # the flooding filter counted both sends of u-1 to NUMBERS[0]: the third is 20
            _, third = await k.advanced(message(NUMBERS[0], ids=["u-1"]))
            assert status_ids(third) == [26]
            _, fourth = await k.advanced(message(NUMBERS[0], ids=["u-1"]))
            assert status_ids(fourth) == [20]
            state = await k.state("?ids=1")
            assert state["accepted"]["u-1"] == 3 and state["seen"]["u-1"] == 4
            assert state["doubleSends"] == 2 and state["acceptedMoreThanOnce"] == 1
            # every acceptance got its own report: three for u-1, each pulled once
            await k.sandbox.dlr.flush()
            assert (await k.state())["reportsQueued"] == 4
            pulled = []
            for _ in range(4):
                _, got = await k.get("/sms/1/reports?messageId=u-1")
                pulled.append(len(got["results"]))
            assert pulled == [1, 1, 1, 0]
            _, rest = await k.get("/sms/1/reports")
            assert [r["messageId"] for r in rest["results"]] == ["u-2"]

    run(go)


def test_dedupe_off_within_one_request_and_through_the_json_config() -> None:
    from sandbox.settings import update

    settings = SandboxSettings()
    update(settings, {"dedupe_ids": False})
    assert settings.dedupe_ids is False and settings.to_json()["dedupe_ids"] is False
    try:
        update(settings, {"dedupe_ids": "no"})
        raise AssertionError("a string is not a boolean")
    except ValueError as exc:
        assert "dedupe_ids" in str(exc)

    async def go() -> None:
        async with sandbox(settings) as k:
            _, answer = await k.advanced(message(NUMBERS[0], NUMBERS[1], ids=["w-1", "w-1"]))
            assert status_ids(answer) == [26, 26]
            state = await k.state("?ids=1")
            assert state["accepted"] == {"w-1": 2} and state["doubleSends"] == 1
            await k.post("/_sandbox/settings", {"dedupe_ids": True}, auth=None)
            _, answer = await k.advanced(message(NUMBERS[2], ids=["w-1"]))
            assert status_ids(answer) == [23]

    run(go)


# -- message logs from acceptance on -----------------------------------------------------------


def slow_reports() -> SandboxSettings:
    settings = SandboxSettings()
    settings.dlr.delay_ms = 60_000  # nothing is released unless a test flushes
    return settings


def test_logs_find_a_message_at_acceptance_then_with_its_final_status() -> None:
    async def go() -> None:
        async with sandbox(slow_reports()) as k:
            msg = message(NUMBERS[0], NUMBERS[1], ids=["l-1", "l-2"], text="a" * 161)
            await k.advanced(msg, bulk_id="LOG-1")
            await k.advanced(message(NUMBERS[2], ids=["l-3"]), bulk_id="LOG-2")
            _, logs = await k.get("/sms/1/logs?messageId=l-1")
            [entry] = logs["results"]
            assert entry["status"]["name"] == "PENDING_ACCEPTED"
            assert entry["status"]["groupId"] == 1 and entry["status"]["id"] == 26
            assert entry["error"]["name"] == "NO_ERROR" and "doneAt" not in entry
            assert entry["bulkId"] == "LOG-1" and entry["to"] == NUMBERS[0]
            assert entry["from"] == "InfoSMS" and entry["text"] == "a" * 161
            assert entry["smsCount"] == 2 and entry["sentAt"].endswith("+0000")
            # the filters work on accepted messages too
            queries = {
                "messageId=l-1,l-3,nope": {"l-1", "l-3"},
                "bulkId=LOG-1": {"l-1", "l-2"},
                f"to={NUMBERS[2]}": {"l-3"},
                "from=InfoSMS&limit=2": {"l-1", "l-2"},
                "generalStatus=PENDING": {"l-1", "l-2", "l-3"},
                "generalStatus=DELIVERED": set(),
                "from=Other": set(),
            }
            for query, expected in queries.items():
                _, got = await k.get(f"/sms/1/logs?{query}")
                assert {r["messageId"] for r in got["results"]} == expected, query
            await k.sandbox.dlr.flush()
            final = (await k.state("?final=1"))["final"]
            _, logs = await k.get("/sms/1/logs?messageId=l-1,l-2,l-3")
            got = {r["messageId"]: r for r in logs["results"]}
            assert set(got) == {"l-1", "l-2", "l-3"}
            for mid, r in got.items():
                assert r["status"] == OUTCOMES[final[mid]].status, mid
                assert r["status"]["groupId"] in (2, 3, 4) and "doneAt" in r and r["text"]
            _, pending = await k.get("/sms/1/logs?generalStatus=PENDING")
            assert pending == {"results": []}

    run(go)


def test_logs_show_the_accept_status_configured() -> None:
    settings = slow_reports()
    settings.accept_status = "ACCEPTED"

    async def go() -> None:
        async with sandbox(settings) as k:
            await k.advanced(message(NUMBERS[0], ids=["g-0"]))
            _, logs = await k.get("/sms/1/logs?generalStatus=ACCEPTED")
            [entry] = logs["results"]
            assert entry["messageId"] == "g-0"
            assert entry["status"]["name"] == "MESSAGE_ACCEPTED" and entry["status"]["groupId"] == 0

    run(go)


def test_logs_show_the_latest_acceptance_of_a_reused_id() -> None:
    import time

    settings = SandboxSettings(dedupe_ids=False)
    settings.dlr.delay_ms = 0

    async def go() -> None:
        async with sandbox(settings) as k:
            await k.advanced(message(NUMBERS[0], ids=["v-1"], text="first"))
            await k.post("/_sandbox/dlr", {"delay_ms": 60_000}, auth=None)
            await k.advanced(message(NUMBERS[1], ids=["v-1"], text="second"))
            k.sandbox.dlr.release(time.monotonic() + 1)  # only the first one's report is due
            assert (await k.state())["reportsQueued"] == 1
            _, logs = await k.get("/sms/1/logs?messageId=v-1")
            [entry] = logs["results"]
            assert entry["text"] == "second" and entry["to"] == NUMBERS[1]
            assert entry["status"]["name"] == "PENDING_ACCEPTED"
            await k.sandbox.dlr.flush()
            _, logs = await k.get("/sms/1/logs?messageId=v-1")
            [entry] = logs["results"]
            assert entry["text"] == "second" and entry["status"]["groupName"] != "PENDING"

    run(go)


def test_logs_keep_at_most_logs_max_messages() -> None:
    settings = slow_reports()
    settings.dlr.logs_max = 3

    async def go() -> None:
        async with sandbox(settings) as k:
            await k.advanced(message(*NUMBERS[:2], ids=["k-0", "k-1"]))
            await k.advanced(message(*NUMBERS[2:5], ids=["k-2", "k-3", "k-4"]))
            await k.advanced(message(*NUMBERS[5:7], ids=["k-5", "k-6"]))
            _, logs = await k.get("/sms/1/logs")
            assert [r["messageId"] for r in logs["results"]] == ["k-0", "k-1", "k-2"]
            await k.sandbox.dlr.flush()
            _, logs = await k.get("/sms/1/logs")
            assert [r["messageId"] for r in logs["results"]] == ["k-0", "k-1", "k-2"]
            assert all("doneAt" in r for r in logs["results"])

    run(go)


# -- concurrent send requests ------------------------------------------------------------------


def test_max_concurrent_requests_counts_requests_sleeping_in_latency() -> None:
    import asyncio

    settings = SandboxSettings()
    settings.faults.latency_ms = 400
    n = 6

    async def go() -> None:
        async with sandbox(settings) as k:
            sends = [k.advanced(message(NUMBERS[i], ids=[f"c-{i}"])) for i in range(n)]
            answers = await asyncio.gather(*sends)
            assert [a[0] for a in answers] == [200] * n
            state = await k.state()
            assert state["maxConcurrentRequests"] == n and state["inflight"] == 0
            single = k.post("/sms/1/text/single", {"to": NUMBERS[0], "text": "x"})
            await asyncio.gather(single, *(k.advanced(message(NUMBERS[1])) for _ in range(n)))
            state = await k.state()
            assert state["maxConcurrentRequests"] == n + 1 and state["inflight"] == 0
            await k.get("/sms/1/logs")  # not a send endpoint: not counted
            await k.post("/_sandbox/reset", auth=None)
            state = await k.state()
            assert state["maxConcurrentRequests"] == 0 and state["inflight"] == 0

    run(go)


def test_concurrency_counts_hanging_and_dropped_requests() -> None:
    import asyncio

    settings = SandboxSettings()
    settings.faults.timeout_share = 1.0
    settings.faults.timeout_sleep_s = 1.0

    async def go() -> None:
        async with sandbox(settings) as k:
            hanging = asyncio.create_task(k.advanced(message(NUMBERS[0])))
            for _ in range(100):
                await asyncio.sleep(0.01)
                if (await k.state())["timeouts"]:
                    break
            state = await k.state()
            assert state["inflight"] == 1 and state["maxConcurrentRequests"] == 1
            # a reset while it hangs zeroes the count; its end does not go below zero
            await k.post("/_sandbox/reset", auth=None)
            assert (await k.state())["inflight"] == 0
            assert (await hanging)[0] == 200
            state = await k.state()
            assert state["inflight"] == 0 and state["maxConcurrentRequests"] == 0
            await k.post("/_sandbox/faults", {"timeout_mode": "drop", "latency_ms": 300}, auth=None)
            dropped = [k.advanced(message(NUMBERS[i])) for i in range(3)]
            results = await asyncio.gather(*dropped, return_exceptions=True)
            assert all(isinstance(r, Exception) for r in results)
            for _ in range(100):
                if (await k.state())["inflight"] == 0:
                    break
                await asyncio.sleep(0.01)
            state = await k.state()
            assert state["inflight"] == 0 and len(state["timeouts"]) == 3
            assert state["maxConcurrentRequests"] == 3

    run(go)
