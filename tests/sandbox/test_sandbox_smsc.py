"""The SMSC.ru sandbox: its API (send.php, status.php in each fmt), counting, limits, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from core.batch import Batch, Destination
from providers.base import Action
from providers.smsc.sender import SmscSender, provider_key, smsc_id
from sandbox import server
from sandbox.gateway import SANDBOX
from sandbox.settings import SandboxSettings
from sandbox.smsc.app import make_app
from sandbox.smsc.gateway import SmscSandbox
from tests.sandbox.sandbox_kit import run

AUTH = {"login": "sandbox", "psw": "sandbox"}
N0, N1, N2 = "66812345600", "66812345601", "66812345602"


@dataclass
class Kit:
    client: TestClient
    sandbox: SmscSandbox

    async def call(
        self, path: str, form: dict[str, str], *, auth: bool = True, method: str = "POST"
    ) -> tuple[int, bytes]:
        fields = {**AUTH, **form} if auth else form
        if method == "GET":
            resp = await self.client.get(path, params=fields)
        else:
            resp = await self.client.post(
                path,
                data=urlencode(fields).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        async with resp:
            return resp.status, await resp.read()

    async def send(self, **form: str) -> Any:
        status, body = await self.call("/sys/send.php", {"fmt": "3", **form})
        assert status == 200, body
        return orjson.loads(body)

    async def status(self, **form: str) -> Any:
        status, body = await self.call("/sys/status.php", {"fmt": "3", **form})
        assert status == 200, body
        return orjson.loads(body)

    async def state(self, query: str = "") -> Any:
        async with self.client.get(f"/_sandbox/state{query}") as resp:
            return orjson.loads(await resp.read())

    async def control(self, section: str, body: dict[str, Any]) -> Any:
        async with self.client.post(f"/_sandbox/{section}", data=orjson.dumps(body)) as resp:
            assert resp.status == 200, await resp.text()
            return orjson.loads(await resp.read())


@asynccontextmanager
async def smsc(settings: SandboxSettings | None = None) -> AsyncIterator[Kit]:
    app = make_app(settings)
    async with TestServer(app) as srv, TestClient(srv) as client:
        sandbox = app[SANDBOX]
        assert isinstance(sandbox, SmscSandbox)
        yield Kit(client, sandbox)


# ---------------------------------------------------------------- send.php


def test_send_shared_text_op1_json() -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(
                phones=f"{N0},+{N1};{N2}", mes="Hello", id="camp-b1", op="1", charset="utf-8"
            )
            assert answer["id"] == "camp-b1" and answer["cnt"] == 3
            assert [p["phone"] for p in answer["phones"]] == [N0, N1, N2]
            assert all("status" not in p for p in answer["phones"])
            ids = await kit.state("?ids=1")
            assert ids["accepted"] == {f"camp-b1:{n}": 1 for n in (N0, N1, N2)}
            assert ids["acceptedParts"] == 3 and ids["destinationsReceived"] == 3

    run(go)


def test_send_without_op_answers_id_and_parts_only_and_numeric_ids_stay_numbers() -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(phones=N0, mes="x" * 161, id="00042")
            assert answer == {"id": 42, "cnt": 2}
            auto = await kit.send(phones=N0, mes="Hi")
            assert isinstance(auto["id"], int) and auto["cnt"] == 1

    run(go)


def test_send_list_gives_each_number_its_text_and_reads_backslash_n() -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(
                list=f"{N0}:Hi Ann\n{N1}:Hi\\nBob: see you", id="b", op="1", charset="utf-8"
            )
            assert answer["cnt"] == 2 and len(answer["phones"]) == 2
            records = await kit.status(phone=f"{N0},{N1}", id="b,b", all="1", charset="utf-8")
            assert [r["message"] for r in records] == ["Hi Ann", "Hi\nBob: see you"]
            assert [r["id"] for r in records] == ["b", "b"]

    run(go)


def test_bad_numbers_are_listed_with_their_status_and_err1_lists_only_them() -> None:
    async def go() -> None:
        settings = SandboxSettings(
            dedupe_ids=False, blacklist=frozenset({N1}), bad_prefixes=("6699",)
        )
        async with smsc(settings) as kit:
            answer = await kit.send(phones=f"{N0},{N1},12,66990000000", mes="Hi", id="b", err="1")
            assert answer["cnt"] == 1
            assert [(p["phone"], p["status"]) for p in answer["phones"]] == [
                (N1, "23"),
                ("12", "22"),
                ("66990000000", "25"),
            ]
            assert (await kit.state("?ids=1"))["accepted"] == {f"b:{N0}": 1}
            # refused numbers are messages too: a status request finds them with their status
            records = await kit.status(phone=f"{N1},12", id="b,b")
            assert [r["status"] for r in records] == [23, 22]

    run(go)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"phones": N0, "mes": "Hi", "psw": "wrong"}, 2),
        ({"phones": N0}, 1),  # no text
        ({"mes": "Hi"}, 1),  # no numbers
        ({"phones": N0, "mes": "x" * 1001}, 1),  # longer than 1,000 characters
        ({"phones": N0, "mes": "Hi", "id": "a" * 41}, 1),  # id: at most 40 characters
        ({"phones": N0, "mes": "Hi", "id": "a b"}, 1),  # id: letters, digits, '.-_'
        ({"phones": N0, "mes": "Hi", "id": "2147483648"}, 1),  # a number: 32 bits
        ({"phones": N0, "mes": "Hi", "valid": "25"}, 1),  # 1 to 24 hours
        ({"phones": N0, "mes": "Hi", "valid": "00:00"}, 1),
        ({"phones": N0, "mes": "Hi", "sender": "TwelveLetter"}, 6),  # 11 characters at most
        ({"phones": "12,abc", "mes": "Hi"}, 7),  # no usable number at all
    ],
)
def test_request_errors(form: dict[str, str], code: int) -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(**form)
            assert answer["error_code"] == code and answer["error"]
            state = await kit.state()
            assert state["acceptedMessages"] == 0 and state["statuses"] == {f"ERROR_{code}": 1}

    run(go)


def test_api_key_instead_of_login_and_password() -> None:
    async def go() -> None:
        async with smsc() as kit:
            form = {"login": "", "psw": "sandbox-key", "phones": N0, "mes": "Hi", "fmt": "3"}
            status, body = await kit.call("/sys/send.php", form, auth=False)
            assert status == 200 and orjson.loads(body)["cnt"] == 1

    run(go)


def test_not_enough_credit_is_error_3_and_takes_nothing() -> None:
    async def go() -> None:
        async with smsc(SandboxSettings(dedupe_ids=False, credit=1.0)) as kit:
            answer = await kit.send(phones=f"{N0},{N1}", mes="Hi", id="b")
            assert answer["error_code"] == 3 and answer["id"] == "b"
            assert (await kit.state())["acceptedMessages"] == 0

    run(go)


@pytest.mark.parametrize(
    ("fmt", "ok", "error"),
    [
        ("0", b"OK - 1 SMS, ID - b", b"ERROR = 2 (authorise error)"),
        ("1", b"b,1", b"0,-2"),
        (
            "2",
            b"<result><cnt>1</cnt><id>b</id></result>",
            b"<result><error>authorise error</error><error_code>2</error_code></result>",
        ),
        ("3", b'{"id":"b","cnt":1}', b'{"error":"authorise error","error_code":2}'),
    ],
)
def test_answer_formats(fmt: str, ok: bytes, error: bytes) -> None:
    async def go() -> None:
        async with smsc() as kit:
            form = {"phones": N0, "mes": "Hi", "id": "b", "fmt": fmt}
            assert await kit.call("/sys/send.php", form) == (200, ok)
            assert await kit.call("/sys/send.php", {**form, "psw": "x"}) == (200, error)

    run(go)


def test_get_and_the_default_windows_1251_charset() -> None:
    async def go() -> None:
        async with smsc() as kit:
            text = "Привет"
            query = urlencode(
                {**AUTH, "phones": N0, "mes": text, "id": "b", "fmt": "3"}, encoding="cp1251"
            )
            async with kit.client.get(f"/sys/send.php?{query}") as resp:
                assert orjson.loads(await resp.read())["cnt"] == 1
            (record,) = await kit.status(phone=f"{N0},", id="b,", all="1", charset="utf-8")
            assert record["message"] == text and record["phone"] == N0

    run(go)


# ---------------------------------------------------------------- counting


def test_a_reused_id_is_taken_and_counted_again() -> None:
    async def go() -> None:
        async with smsc() as kit:
            for text in ("Hi", "Hi again"):  # not the same request: that would be error 9
                assert (await kit.send(phones=N0, mes=text, id="b"))["cnt"] == 1
            state = await kit.state("?ids=1")
            assert state["accepted"] == {f"b:{N0}": 2}
            assert state["doubleSends"] == 1 and state["acceptedMoreThanOnce"] == 1

    run(go)


def test_dedupe_ids_takes_a_repeat_without_sending_or_counting_it() -> None:
    async def go() -> None:
        async with smsc(SandboxSettings(dedupe_ids=True)) as kit:
            for text in ("Hi", "Hi again"):
                assert (await kit.send(phones=N0, mes=text, id="b"))["cnt"] == 1
            state = await kit.state("?ids=1")
            assert state["accepted"] == {f"b:{N0}": 1} and state["seen"] == {f"b:{N0}": 2}
            assert state["doubleSends"] == 0 and state["seenMoreThanOnce"] == 1

    run(go)


def test_without_settings_the_sandbox_counts_every_send() -> None:
    assert make_app()[SANDBOX].settings.dedupe_ids is False
    assert server.make_app(None, "smsc")[SANDBOX].settings.dedupe_ids is False


def test_the_same_number_twice_in_one_request_is_sent_once() -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(phones=f"{N0},{N0}", mes="Hi", id="b", op="1")
            assert answer["cnt"] == 1 and len(answer["phones"]) == 1
            assert (await kit.state("?ids=1"))["accepted"] == {f"b:{N0}": 1}

    run(go)


def test_the_same_send_request_within_a_minute_is_error_9() -> None:
    """The second of two equal send requests within a minute is refused; one that differs
    is taken (and counted)."""

    async def go() -> None:
        async with smsc() as kit:
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["cnt"] == 1
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["error_code"] == 9
            assert (await kit.send(phones=N0, mes="Hi!", id="b"))["cnt"] == 1
            assert (await kit.state("?ids=1"))["accepted"] == {f"b:{N0}": 2}
            await kit.control("smsc", {"identical_sends_per_minute": 0})  # 0: no check
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["cnt"] == 1

    run(go)


def test_a_send_request_that_failed_still_counts_as_the_first() -> None:
    """Least favourable: the gateway received it, so an equal request within the minute is
    error 9 even when the first got an HTTP 500, and so is one after an error answer."""

    async def go() -> None:
        async with smsc() as kit:
            form = {"phones": N0, "mes": "Hi", "id": "b", "fmt": "3"}
            await kit.control("faults", {"error_share": 1.0})
            assert (await kit.call("/sys/send.php", form))[0] == 500
            await kit.control("faults", {"error_share": 0.0})
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["error_code"] == 9
            assert (await kit.send(phones="12", mes="Hi", id="b"))["error_code"] == 7
            assert (await kit.send(phones="12", mes="Hi", id="b"))["error_code"] == 9
            assert (await kit.state())["acceptedMessages"] == 0

    run(go)


def test_every_repeat_restarts_the_minute() -> None:
    """A refused repeat counts too: asking again before the window is over stays refused;
    the same request after a whole quiet window is taken."""

    async def go() -> None:
        async with smsc() as kit:
            await kit.control("smsc", {"window_s": 0.4})
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["cnt"] == 1
            await asyncio.sleep(0.25)
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["error_code"] == 9
            await asyncio.sleep(0.25)  # 0.5 s after the first, 0.25 s after the refused one
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["error_code"] == 9
            await asyncio.sleep(0.5)
            assert (await kit.send(phones=N0, mes="Hi", id="b"))["cnt"] == 1
            assert (await kit.state("?ids=1"))["accepted"] == {f"b:{N0}": 2}

    run(go)


# ---------------------------------------------------------------- status.php


def test_status_single_multiple_and_not_found() -> None:
    async def go() -> None:
        settings = SandboxSettings(dedupe_ids=False)
        settings.dlr.delay_ms = 0
        settings.dlr.outcomes = {"DELIVERED": 1.0}
        async with smsc(settings) as kit:
            await kit.send(phones=f"{N0},{N1}", mes="Hi", id="b")
            single = await kit.status(phone=N0, id="b")
            assert single["status"] == 1 and single["err"] == 0 and "id" not in single
            assert set(single) == {"status", "last_date", "last_timestamp", "flag", "err"}
            many = await kit.status(phone=f"{N0},{N1},{N2}", id="b,b,b")
            assert [(r["status"], r["id"], r["phone"]) for r in many] == [
                (1, "b", N0),
                (1, "b", N1),
                (-3, "b", N2),
            ]
            assert await kit.status(phone=N0, id="other") == {"status": -3}
            full = await kit.status(phone=N0, id="b", all="2")
            assert full["sms_cnt"] == 1 and full["message"] == "Hi" and "region" in full

    run(go)


def test_status_before_the_report_is_due_is_transferred_to_the_operator() -> None:
    async def go() -> None:
        settings = SandboxSettings(dedupe_ids=False)
        settings.dlr.delay_ms = 60_000
        async with smsc(settings) as kit:
            await kit.send(phones=N0, mes="Hi", id="b")
            assert (await kit.status(phone=N0, id="b"))["status"] == 0

    run(go)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("0", b"Status = -3\nStatus = -3"),
        ("1", b"-3,0,0,x,1\n-3,0,0,x,2"),
        (
            "2",
            b"<list><sms><status>-3</status><id>x</id><phone>1</phone></sms>"
            b"<sms><status>-3</status><id>x</id><phone>2</phone></sms></list>",
        ),
    ],
)
def test_status_formats_of_a_multiple_answer(fmt: str, expected: bytes) -> None:
    async def go() -> None:
        async with smsc() as kit:
            form = {"phone": "1,2", "id": "x,x", "fmt": fmt}
            status, body = await kit.call("/sys/status.php", form)
            if fmt == "0":  # fmt=0 writes every field as `key = value`
                assert body.split(b"\n")[0].startswith(b"Status = -3") and b"id = x" in body
            else:
                assert (status, body) == (200, expected)

    run(go)


def test_status_request_limits_per_message_and_mass_requests() -> None:
    async def go() -> None:
        async with smsc() as kit:
            await kit.send(phones=f"{N0},{N1}", mes="Hi", id="b")
            for _ in range(5):
                assert (await kit.status(phone=N0, id="b"))["status"] != -3
            assert (await kit.status(phone=N0, id="b"))["error_code"] == 9  # the sixth
            assert isinstance(await kit.status(phone=N1, id="b"), dict)  # another message
            assert isinstance(await kit.status(phone=f"{N1},{N2}", id="b,b"), list)
            assert (await kit.status(phone=f"{N1},{N2}", id="b,b"))["error_code"] == 9
            await kit.control("smsc", {"mass_status_per_window": 0, "status_per_message": 0})
            assert isinstance(await kit.status(phone=f"{N0},{N1}", id="b,b"), list)
            state = await kit.state()
            assert state["statuses"]["ERROR_9"] == 2

    run(go)


def test_a_mass_status_request_counts_against_each_message_it_names() -> None:
    """Lookups, polls and any other status reads count alike: five mass requests naming a
    message use up its five a minute; a message they did not name is still free."""

    async def go() -> None:
        async with smsc() as kit:
            await kit.send(phones=f"{N0},{N1},{N2}", mes="Hi", id="b")
            await kit.control("smsc", {"mass_status_per_window": 0})
            for _ in range(5):
                assert isinstance(await kit.status(phone=f"{N0},{N1}", id="b,b"), list)
            assert (await kit.status(phone=N0, id="b"))["error_code"] == 9
            assert (await kit.status(phone=f"{N1},{N2}", id="b,b"))["error_code"] == 9
            assert (await kit.status(phone=N2, id="b"))["status"] != -3  # its second request

    run(go)


def test_a_refused_status_request_counts_too() -> None:
    """One mass request a minute: the refused second one counts, so a third that comes a
    minute after the first but not after the second is refused as well."""

    async def go() -> None:
        async with smsc() as kit:
            await kit.control("smsc", {"window_s": 0.4})
            mass = {"phone": f"{N0},{N1}", "id": "b,b"}
            assert isinstance(await kit.status(**mass), list)
            await asyncio.sleep(0.25)
            assert (await kit.status(**mass))["error_code"] == 9
            await asyncio.sleep(0.25)
            assert (await kit.status(**mass))["error_code"] == 9
            await asyncio.sleep(0.5)
            assert isinstance(await kit.status(**mass), list)

    run(go)


@pytest.mark.parametrize(
    "form",
    [{"phone": N0}, {"id": "b"}, {"phone": "1,2", "id": "b"}, {"phone": N0, "id": "b", "all": "3"}],
)
def test_status_parameter_errors(form: dict[str, str]) -> None:
    async def go() -> None:
        async with smsc() as kit:
            assert (await kit.status(**form))["error_code"] == 1

    run(go)


# ---------------------------------------------------------------- concurrency cap


def test_a_fifth_concurrent_request_of_a_login_gets_error_9() -> None:
    """The seed: "five or more requests simultaneously ... under the same username"."""

    async def go() -> None:
        async with smsc() as kit:
            await kit.control("faults", {"latency_ms": 300})

            async def one(i: int) -> Any:
                if i == 4:  # status requests count too: the cap is on the login
                    await asyncio.sleep(0.05)
                    return await kit.status(phone=N0, id="b")
                return await kit.send(phones=f"6681234{i:04d}", mes="Hi", id="b")

            answers = await asyncio.gather(*(one(i) for i in range(5)))
            assert [a.get("error_code") for a in answers] == [None] * 4 + [9]
            state = await kit.state()
            assert state["maxConcurrentRequests"] == 5 and state["inflight"] == 0
            assert state["statuses"]["ERROR_9"] == 1 and state["acceptedMessages"] == 4

    run(go)


def test_four_concurrent_requests_are_fine_and_the_cap_can_be_changed() -> None:
    async def go() -> None:
        async with smsc() as kit:
            await kit.control("faults", {"latency_ms": 200})
            sends = [kit.send(phones=f"6681234{i:04d}", mes="Hi", id="b") for i in range(4)]
            assert all("error_code" not in a for a in await asyncio.gather(*sends))
            assert (await kit.state())["maxConcurrentRequests"] == 4
            await kit.control("smsc", {"concurrency": 2})
            sends = [kit.send(phones=f"6681235{i:04d}", mes="Hi", id="b") for i in range(3)]
            codes = [a.get("error_code") for a in await asyncio.gather(*sends)]
            assert codes.count(9) == 1

    run(go)


# ---------------------------------------------------------------- faults and control


def test_faults_500_before_taking_anything_and_throttle_as_error_9() -> None:
    async def go() -> None:
        async with smsc() as kit:
            await kit.control("faults", {"error_share": 1.0})
            status, _ = await kit.call("/sys/send.php", {"phones": N0, "mes": "Hi", "fmt": "3"})
            assert status == 500 and (await kit.state())["acceptedMessages"] == 0
            await kit.control("faults", {"error_share": 0.0, "throttle_share": 1.0})
            assert (await kit.send(phones=N0, mes="Hi"))["error_code"] == 9
            assert (await kit.state())["http"] == {"500": 1, "200": 1}

    run(go)


def test_a_timeout_after_taking_the_numbers_is_counted() -> None:
    async def go() -> None:
        async with smsc() as kit:
            await kit.control("faults", {"timeout_share": 1.0, "timeout_mode": "drop"})
            with pytest.raises(aiohttp.ClientError):
                await kit.call("/sys/send.php", {"phones": f"{N0},{N1}", "mes": "Hi", "id": "b"})
            state = await kit.state("?ids=1")
            assert state["accepted"] == {f"b:{N0}": 1, f"b:{N1}": 1}
            assert sorted(state["acceptedInTimeouts"]) == [f"b:{N0}", f"b:{N1}"]
            assert state["timeouts"] == [{"bulkId": "b", "accepted": 2, "mode": "drop"}]
            assert state["inflight"] == 0

    run(go)


def test_reset_forgets_messages_and_limits() -> None:
    async def go() -> None:
        async with smsc() as kit:
            await kit.send(phones=N0, mes="Hi", id="b")
            await kit.control("reset", {})
            assert (await kit.status(phone=N0, id="b")) == {"status": -3}
            assert (await kit.state())["acceptedMessages"] == 0

    run(go)


def test_smsc_knobs_read_and_refuse_unknown_ones() -> None:
    async def go() -> None:
        async with smsc() as kit:
            async with kit.client.get("/_sandbox/smsc") as resp:
                assert (await resp.json())["concurrency"] == 4
            async with kit.client.post("/_sandbox/smsc", data=b'{"nope": 1}') as resp:
                assert resp.status == 400

    run(go)


# ---------------------------------------------------------------- our sender against it


def test_the_smsc_sender_and_the_sandbox_agree_on_every_key() -> None:
    """The keys our sender records (`provider_id`) are the ones the oracle counts."""

    async def go() -> None:
        app = make_app()
        async with TestServer(app) as srv, aiohttp.ClientSession() as session:
            base = str(srv.make_url("")).rstrip("/")
            settings = Settings(smsc_base_url=base, smsc_login="sandbox", smsc_password="sandbox")
            sender = SmscSender(session, settings)
            expires = int(time.time() * 1000) + 3_600_000
            dests = (
                Destination("C-1", N0, "Hi\nAnn"),
                Destination("C-2", N1, "C:\\new"),
                Destination("C-3", "12", "Hi"),
            )
            batch = Batch("C", 0, "C-b0", "Shop", None, dests, expires)
            results = {r.message_id: r for r in await sender.send(batch)}
            assert {m: r.verdict.action for m, r in results.items()} == {
                "C-1": Action.ACCEPTED,
                "C-2": Action.ACCEPTED,
                "C-3": Action.PERMANENT,
            }
            found = await sender.lookup(batch)
            assert {m: r.verdict.action for m, r in found.items()} == {
                "C-1": Action.ALREADY_DONE,
                "C-2": Action.ALREADY_DONE,
                "C-3": Action.PERMANENT,
            }
            counted = app[SANDBOX].state.ids()["accepted"]
            assert set(counted) == {results["C-1"].provider_id, results["C-2"].provider_id}
            sid = smsc_id("C-b0")  # upper case: hashed, in case SMSC ignores case
            assert sid.startswith("_") and len(sid) == 40
            assert results["C-1"].provider_id == provider_key(sid, N0) == f"{sid}:{N0}"
            records = app[SANDBOX].messages
            assert {m.text for m in records.values()} == {"Hi\nAnn", "C:\\new", "Hi"}

    run(go)


def test_status_25_after_taking_and_our_lookup_reads_it_as_sent() -> None:
    """25 comes both ways: for a number refused at once (no route) and as the final outcome
    of a message taken and billed.  The send answer tells them apart (the refused number is
    listed with its status); a status answer cannot, and our lookup (asked only when the
    send answer was lost) reads both as sent, undeliverable: never "failed" for a message
    that may have been billed."""

    async def go() -> None:
        settings = SandboxSettings(dedupe_ids=False, bad_prefixes=["66899"])
        settings.dlr.delay_ms = 0
        settings.dlr.outcomes = {"UNDELIVERABLE_PERMANENT": 1.0}
        app = make_app(settings)
        async with TestServer(app) as srv, aiohttp.ClientSession() as session:
            base = str(srv.make_url("")).rstrip("/")
            config = Settings(smsc_base_url=base, smsc_login="sandbox", smsc_password="sandbox")
            sender = SmscSender(session, config)
            expires = int(time.time() * 1000) + 3_600_000
            dests = (Destination("C-1", N0, None), Destination("C-2", "66899000000", None))
            batch = Batch("C", 0, "c-b0", "Shop", "Hi", dests, expires)
            sent = {r.message_id: r.verdict.action for r in await sender.send(batch)}
            assert sent == {"C-1": Action.ACCEPTED, "C-2": Action.PERMANENT}
            found = await sender.lookup(batch)
            got = {m: (r.group, r.verdict.action, r.state) for m, r in found.items()}
            assert got == {
                "C-1": ("25", Action.ALREADY_DONE, "undeliverable"),  # taken and billed
                "C-2": ("25", Action.ALREADY_DONE, "undeliverable"),  # refused at once
            }
            state = app[SANDBOX].state
            assert state.ids()["accepted"] == {f"c-b0:{N0}": 1}
            assert state.final[f"c-b0:{N0}"] == "UNDELIVERABLE_PERMANENT"

    run(go)
