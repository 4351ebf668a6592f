"""SMSC.ru: POST /sys/send.php (fmt=3, op=1) and POST /sys/status.php (fmt=3, all=0)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.settings import Settings
from core.batch import Destination
from core.binary import Binary
from core.errors import (
    GatewayMisconfigured,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayServerError,
    GatewayThrottled,
)
from core.gsm_national import Language
from core.options import SendOptions
from providers.base import Action
from tests.unit.providers.contracts.harness import Answer, Case, Request, batch

PROVIDER = "smsc"
A = Action
N0, N1, N2 = "66812345600", "66812345601", "66812345602"
AUTH = {"login": "user", "psw": "secret"}
LONG = "c" * 40  # a campaign id whose bulkId does not fit SMSC's 40-character id
LONG_ID = "_935838b8115b668bda0b164ff0d38b2d4e7a087"  # "_" + sha256(f"{LONG}-b0")[:39]


def settings(base_url: str) -> Settings:
    return Settings(smsc_base_url=base_url, smsc_login="user", smsc_password="secret")


def send(*, sid: str = "c-b0", sender: str = "Shop", **body: str) -> Request:
    """The exact send.php form: `phones` + `mes`, or `list`."""
    form = {
        **AUTH,
        "sender": sender,
        "id": sid,
        "valid": "24:00",
        "fmt": "3",
        "charset": "utf-8",
        "op": "1",
        **body,
    }
    return Request(
        "POST",
        "/sys/send.php",
        form=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def status(phones: str, ids: str) -> Request:
    form = {**AUTH, "phone": phones, "id": ids, "fmt": "3", "all": "0", "charset": "utf-8"}
    return Request("POST", "/sys/status.php", form=form)


def ok(*entries: dict[str, Any], sid: str = "c-b0", cnt: int = 2) -> Answer:
    return Answer(200, {"id": sid, "cnt": cnt, "phones": list(entries)})


def phone(number: str, **extra: str) -> dict[str, Any]:
    return {"phone": number, "mccmnc": "52001", "cost": "1.0", **extra}


def error(code: int, text: str = "error") -> Answer:
    return Answer(200, {"error": text, "error_code": code})


def record(number: str, status_code: int, err: int = 0, sid: str = "c-b0") -> dict[str, Any]:
    return {
        "status": status_code,
        "last_date": "27.05.2019 14:40:09",
        "flag": 0,
        "last_timestamp": 1558968009,
        "err": err,
        "id": sid,
        "phone": number,
    }


def pids(*expected: tuple[str, str]) -> Callable[[Any], None]:
    """The results name the SMSC message (id:number) of each messageId."""

    def check(outcome: Any) -> None:
        results = outcome.values() if isinstance(outcome, dict) else outcome
        got = {r.message_id: r.provider_id for r in results}
        assert got == dict(expected), got

    return check


def states(*expected: tuple[str, str]) -> Callable[[Any], None]:
    """The delivery state of each messageId a lookup found taken and already final."""

    def check(outcome: dict[str, Any]) -> None:
        got = {mid: r.state for mid, r in outcome.items() if r.state}
        assert got == dict(expected), got

    return check


def suppressed(mid: str) -> Callable[[Any], None]:
    def check(outcome: Any) -> None:
        (bad,) = [r for r in outcome if r.message_id == mid]
        assert bad.verdict.suppress and bad.verdict.code == "22", bad

    return check


BOTH = send(phones=f"{N0},{N1}", mes="Hi")

CASES = [
    Case(
        "options: flash=1 and translit=1 (CYRILLIC) in the form",
        batch(options=SendOptions(flash=True, transliteration="CYRILLIC")),
        [ok(phone(N0), phone(N1))],
        [send(phones=f"{N0},{N1}", mes="Hi", flash="1", translit="1")],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "options: flash alone, no translit field",
        batch(options=SendOptions(flash=True)),
        [ok(phone(N0), phone(N1))],
        [send(phones=f"{N0},{N1}", mes="Hi", flash="1")],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "options: a national language is refused before any request",
        batch(options=SendOptions(language=Language("TR", single_shift=True))),
        [],
        [],
        refused="gateway smsc does not take national language TR (single shift)",
    ),
    Case(
        "options: intermediate reports are refused before any request",
        batch(options=SendOptions(intermediate_reports=True)),
        [],
        [],
        refused="gateway smsc does not take intermediate reports",
    ),
    Case(
        "options: a transliteration other than Cyrillic is refused before any request",
        batch(options=SendOptions(transliteration="GREEK")),
        [],
        [],
        refused="gateway smsc does not take transliteration GREEK",
    ),
    Case(
        "binary: refused before any request, never sent as text",
        batch(text="00ff", binary=Binary()),
        [],
        [],
        refused="gateway smsc cannot send binary messages",
    ),
    Case(
        "shared text: one request with every number, both accepted",
        batch(),
        [ok(phone(N0), phone(N1))],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
        check=pids(("c-0", f"c-b0:{N0}"), ("c-1", f"c-b0:{N1}")),
    ),
    Case(
        "personalised texts: one `list` request, line breaks written as \\n",
        batch(texts=["Hi Ann", "Hi\nBob: see you"]),
        [ok(phone(N0), phone(N1))],
        [send(list=f"{N0}:Hi Ann\n{N1}:Hi\\nBob: see you")],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "a text `list` cannot carry exactly goes in a request of its own",
        batch(3, texts=["Hi Ann", "Hi\r\nBob", "C:\\new"]),
        [ok(phone(N0)), ok(phone(N1)), ok(phone(N2))],
        [
            send(list=f"{N0}:Hi Ann"),
            send(phones=N1, mes="Hi\r\nBob"),
            send(phones=N2, mes="C:\\new"),
        ],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED, "c-2": A.ACCEPTED},
    ),
    Case(
        "a later request of a personalised batch fails: the earlier one stands",
        batch(2, texts=["Hi Ann", "C:\\new"]),
        [ok(phone(N0)), Answer(500, b"")],
        [send(list=f"{N0}:Hi Ann"), send(phones=N1, mes="C:\\new")],
        {"c-0": A.ACCEPTED, "c-1": A.RETRY},
    ),
    Case(
        "per-number errors (op=1): an invalid number fails, suppressed",
        batch(),
        [ok(phone(N0), phone(N1, status="22", error="1"))],
        [BOTH],
        {"c-0": A.ACCEPTED, "c-1": A.PERMANENT},
        check=suppressed("c-1"),
    ),
    Case(
        "per-number errors: prohibited fails, no funds pauses",
        batch(3),
        [ok(phone(N0, status="23", error="0"), phone(N1, status="24", error="0"), phone(N2))],
        [send(phones=f"{N0},{N1},{N2}", mes="Hi")],
        {"c-0": A.PERMANENT, "c-1": A.FATAL, "c-2": A.ACCEPTED},
    ),
    Case(
        "a number missing from the answer: unknown outcome",
        batch(),
        [ok(phone(N0))],
        [BOTH],
        {"c-0": A.ACCEPTED},
    ),
    Case(
        "no `phones` list in a 200: every outcome unknown",
        batch(),
        [Answer(200, {"id": "c-b0", "cnt": 2})],
        [BOTH],
        {},
    ),
    Case(
        "a number twice in a batch: the second is refused, never sent under one key",
        batch().only([Destination("c-0", N0), Destination("c-1", N0)]),
        [ok(phone(N0))],
        [send(phones=N0, mes="Hi")],
        {"c-0": A.ACCEPTED, "c-1": A.PERMANENT},
    ),
    Case(
        "a bulkId too long for SMSC's id: its hash",
        batch(1, campaign=LONG),
        [ok(phone(N0), sid=LONG_ID)],
        [send(sid=LONG_ID, phones=N0, mes="Hi")],
        {f"{LONG}-0": A.ACCEPTED},
        check=pids((f"{LONG}-0", f"{LONG_ID}:{N0}")),
    ),
    Case(
        "error 1 (parameters): the request itself, pauses",
        batch(),
        [error(1)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "error 2 (login or IP): pauses",
        batch(),
        [error(2, "authorise error")],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case("error 3 (no funds): pauses", batch(), [error(3)], [BOTH], error=GatewayMisconfigured),
    Case("error 4 (IP blocked): pauses", batch(), [error(4)], [BOTH], error=GatewayMisconfigured),
    Case(
        "error 6 (forbidden text or sender): pauses",
        batch(),
        [error(6)],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "error 7 (bad numbers): fails the request's destinations",
        batch(),
        [error(7)],
        [BOTH],
        error=GatewayRequestError,
    ),
    Case(
        "error 9 (too many concurrent requests): throttled",
        batch(),
        [error(9)],
        [BOTH],
        error=GatewayThrottled,
    ),
    Case("HTTP 500", batch(), [Answer(500, b"")], [BOTH], error=GatewayServerError),
    Case(
        "HTTP 404: a wrong SMSC_BASE_URL pauses",
        batch(),
        [Answer(404, b"Not Found")],
        [BOTH],
        error=GatewayMisconfigured,
    ),
    Case(
        "an unreadable 200 may hide an acceptance",
        batch(),
        [Answer(200, b"<html>")],
        [BOTH],
        error=GatewayProtocolError,
    ),
    Case(
        "lookup: one mass status request; found, and not found (-3)",
        batch(),
        [Answer(200, [record(N0, 1), record(N1, -3)])],
        [status(f"{N0},{N1}", "c-b0,c-b0")],
        {"c-0": A.ALREADY_DONE},
        lookup=True,
        check=pids(("c-0", f"c-b0:{N0}")),
    ),
    Case(
        "lookup: waiting (-1) and undeliverable (20) were taken; 22 was refused",
        batch(3),
        [Answer(200, [record(N0, -1), record(N1, 20, 6), record(N2, 22, 1)])],
        [status(f"{N0},{N1},{N2}", "c-b0,c-b0,c-b0")],
        {"c-0": A.ALREADY_DONE, "c-1": A.ALREADY_DONE, "c-2": A.PERMANENT},
        lookup=True,
        check=states(("c-1", "undeliverable")),
    ),
    Case(
        "lookup: taken and final (25, 3, 1) is done with its delivery state; 23, 24 refused",
        batch(5),
        [
            Answer(
                200,
                [
                    record(f"6681234560{i}", s, e)
                    for i, (s, e) in enumerate([(25, 11), (3, 0), (1, 0), (23, 0), (24, 0)])
                ],
            )
        ],
        [status(",".join(f"6681234560{i}" for i in range(5)), ",".join(["c-b0"] * 5))],
        {
            "c-0": A.ALREADY_DONE,
            "c-1": A.ALREADY_DONE,
            "c-2": A.ALREADY_DONE,
            "c-3": A.PERMANENT,
            "c-4": A.FATAL,
        },
        lookup=True,
        check=states(("c-0", "undeliverable"), ("c-1", "expired"), ("c-2", "delivered")),
    ),
    Case(
        "lookup of one destination: the single form",
        batch(1),
        [Answer(200, {"status": 0, "last_date": "27.05.2019 14:40:09", "err": 0})],
        [status(N0, "c-b0")],
        {"c-0": A.ALREADY_DONE},
        lookup=True,
    ),
    Case(
        "lookup of one destination, not found",
        batch(1),
        [Answer(200, {"status": -3})],
        [status(N0, "c-b0")],
        {},
        lookup=True,
    ),
    Case(
        "lookup: error 9 (one mass request a minute) is throttled",
        batch(),
        [error(9)],
        [status(f"{N0},{N1}", "c-b0,c-b0")],
        error=GatewayThrottled,
        lookup=True,
    ),
    Case(
        "lookup: an answer silent about a destination never means not taken",
        batch(),
        [Answer(200, [record(N0, 1)])],
        [status(f"{N0},{N1}", "c-b0,c-b0")],
        error=GatewayProtocolError,
        lookup=True,
    ),
    Case(
        "lookup: an unreadable answer",
        batch(),
        [Answer(200, b"Status = ?")],
        [status(f"{N0},{N1}", "c-b0,c-b0")],
        error=GatewayProtocolError,
        lookup=True,
    ),
]
