"""The ANTS sandbox's message options: flash, transliteration and language validated the
least favourable way and kept per message; intermediate PENDING reports only to a message
that asked for them (intermediateReport), before its final report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from core.gsm_national import Language
from core.sms import split as core_split
from sandbox.parts import split
from tests.sandbox.sandbox_kit import message, run, sandbox
from tests.sandbox.test_sandbox_dlr import IDS, NUMBERS, parse_2018_json, receiver, send, settings
from tests.sandbox.test_sandbox_smsc import N0, N1, N2, smsc

TURKISH = {"languageCode": "TR", "singleShift": True, "lockingShift": False}


def test_options_are_accepted_and_kept_per_message() -> None:
    async def go() -> None:
        async with sandbox() as k:
            options = {"flash": True, "transliteration": "TURKISH", "language": TURKISH}
            msg = message(NUMBERS[0], NUMBERS[1], ids=IDS[:2], **options)
            status, _ = await k.advanced(msg, message(NUMBERS[2], ids=IDS[2:3]))
            assert status == 200
            kept = (await k.state("?options=1"))["options"]
            assert kept == {IDS[0]: options, IDS[1]: options}  # the plain one has none

    run(go)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"flash": "true"}, "messages[0].flash"),
        ({"transliteration": "turkish"}, "messages[0].transliteration"),
        ({"transliteration": "KLINGON"}, "messages[0].transliteration"),
        ({"language": "TR"}, "messages[0].language"),
        (
            {"language": {**TURKISH, "languageCode": "AUTODETECT"}},
            "messages[0].language.languageCode",
        ),
        (
            {"language": {"languageCode": "TR", "singleShift": True}},
            "messages[0].language.lockingShift",
        ),
        (
            {"language": {"languageCode": "ES", "singleShift": False, "lockingShift": True}},
            "messages[0].language.lockingShift",
        ),
        ({"intermediateReport": 1}, "messages[0].intermediateReport"),
    ],
)
def test_a_bad_option_is_a_400_naming_it(extra: dict[str, Any], field: str) -> None:
    async def go() -> None:
        async with sandbox() as k:
            status, body = await k.advanced(message(NUMBERS[0], ids=IDS[:1], **extra))
            assert status == 400
            assert field in body["requestError"]["serviceException"]["text"]
            assert (await k.state())["acceptedMessages"] == 0

    run(go)


def test_intermediate_reports_only_to_messages_that_asked() -> None:
    """Ten asked, ten did not: ten PENDING reports (each before its final one), twenty
    final ones; the intermediate share of the settings sends none unasked."""

    async def go() -> None:
        async with receiver() as rx, sandbox(settings(intermediate_share=1.0)) as k:
            await send(k, rx.url, "application/json", n=10, intermediateReport=True)
            plain = message(*NUMBERS[10:], ids=IDS[10:], notifyUrl=rx.url)
            assert (await k.advanced(plain))[0] == 200
            await k.sandbox.dlr.flush()
            results = parse_2018_json(rx.posts)
            pending = [r["messageId"] for r in results if r["status"]["groupName"] == "PENDING"]
            assert sorted(pending) == sorted(IDS[:10])
            finals = [r["messageId"] for r in results if r["status"]["groupName"] != "PENDING"]
            assert sorted(finals) == sorted(IDS)
            for mid in pending:  # posted in order: the PENDING one first
                order = [r["status"]["groupName"] for r in results if r["messageId"] == mid]
                assert order[0] == "PENDING" and len(order) == 2

    run(go)


def test_smsc_takes_flash_and_translit_and_keeps_them() -> None:
    async def go() -> None:
        async with smsc() as kit:
            answer = await kit.send(
                phones=f"{N0},{N1}", mes="Привет", id="o-b1", flash="1", translit="1"
            )
            assert answer["cnt"] == 2
            plain = await kit.send(phones=N2, mes="Hi", id="o-b2", flash="0")
            assert plain["cnt"] == 1
            kept = (await kit.state("?options=1"))["options"]
            assert kept == {f"o-b1:{n}": {"flash": 1, "translit": 1} for n in (N0, N1)}
            for bad in ({"flash": "2"}, {"translit": "3"}, {"flash": "yes"}):
                refused = await kit.send(phones=N0, mes="Hi", id="o-b3", **bad)
                assert refused["error_code"] == 1

    run(go)


@pytest.mark.parametrize(
    ("text", "language", "sms_count"),
    [
        ("a" * 155, TURKISH, 1),
        ("a" * 156, TURKISH, 2),
        ("a" * 160, None, 1),
        ("ğ" * 77 + "a", TURKISH, 1),
        ("ğ" * 78, TURKISH, 2),
        ("ğ" * 155, {**TURKISH, "singleShift": False, "lockingShift": True}, 1),
        ("ğ" * 70, None, 1),  # UCS-2 without the table
    ],
)
def test_sms_count_by_the_national_table(text: str, language: dict | None, sms_count: int) -> None:
    async def go() -> None:
        async with sandbox() as k:
            extra = {"language": language} if language else {}
            status, body = await k.advanced(message(NUMBERS[0], text=text, **extra))
            assert status == 200
            assert body["messages"][0]["smsCount"] == sms_count

    run(go)


LETTERS = "aZ 9.ğĞşŞıİçÇüöáéíóúñãõâêôÁÍÓÚÀÂÃÊÔÕ€{}[]^~|\\ªº`∞èìòΦΓΩΠΨΣΘ\fПр🙂"
LANGUAGES = [
    {"languageCode": code, "singleShift": single, "lockingShift": locking}
    for code, single, locking in (
        ("TR", True, False),
        ("TR", False, True),
        ("TR", True, True),
        ("ES", True, False),
        ("PT", True, False),
        ("PT", False, True),
        ("PT", True, True),
    )
]


@examples(max_examples=300, deadline=None)
@given(text=st.text(LETTERS, min_size=1, max_size=400), language=st.sampled_from(LANGUAGES))
def test_the_sandbox_and_the_dispatcher_count_national_parts_alike(
    text: str, language: dict
) -> None:
    """Two tables written apart from the same Annex (the sandbox's and core's) agree."""
    ours = core_split(
        text, Language(language["languageCode"], language["singleShift"], language["lockingShift"])
    )
    theirs = split(text, language)
    assert (ours.encoding, ours.units, ours.parts, ours.remaining) == (
        theirs.encoding,
        theirs.units,
        theirs.parts,
        theirs.remaining,
    )
