"""Sandbox: POST /sms/1/binary/advanced, read as sandbox/binary.py's docstring says."""

from __future__ import annotations

from typing import Any

from tests.sandbox.sandbox_kit import run, sandbox

NUMBERS = [f"668477814{i:02d}" for i in range(4)]
PATH = "/sms/1/binary/advanced"


def binary_message(
    *numbers: str, hex_: str, data_coding: int = 4, esm_class: int = 0, ids: list[str] | None = None
) -> dict[str, Any]:
    dests = [
        {"to": n, **({"messageId": mid} if mid else {})}
        for n, mid in zip(numbers, ids or [""] * len(numbers), strict=True)
    ]
    coding = {"dataCoding": data_coding, "esmClass": esm_class}
    return {"from": "InfoSMS", "destinations": dests, "binary": {"hex": hex_, **coding}}


def spaced(octets: bytes) -> str:
    return " ".join(f"{o:02x}" for o in octets)


def test_every_octet_is_kept_per_message_id_with_its_parts() -> None:
    every_octet = bytes(range(256))  # 256 octets: 2 parts of 134
    ports = bytes.fromhex("0605040b8423f0") + b"\x01" * 133  # 140 octets with its header

    async def go() -> None:
        async with sandbox() as k:
            status, answer = await k.post(
                PATH,
                {
                    "bulkId": "b-1",
                    "messages": [
                        binary_message(
                            NUMBERS[0], NUMBERS[1], hex_=spaced(every_octet), ids=["m-0", "m-1"]
                        ),
                        binary_message(
                            NUMBERS[2], hex_=spaced(ports).upper(), esm_class=64, ids=["m-2"]
                        ),
                    ],
                },
            )
            assert status == 200, answer
            assert [m["smsCount"] for m in answer["messages"]] == [2, 2, 1]
            assert {m["status"]["groupName"] for m in answer["messages"]} == {"PENDING"}
            payloads = (await k.state("?payloads=1"))["payloads"]
            assert payloads == {
                "m-0": every_octet.hex(),
                "m-1": every_octet.hex(),
                "m-2": ports.hex(),
            }

    run(go)


def test_a_bad_binary_object_is_a_400_naming_it() -> None:
    ok = binary_message(NUMBERS[0], hex_="0f c2")
    cases = [
        ({**ok, "binary": {**ok["binary"], "hex": "0fc2"}}, "messages[0].binary.hex"),  # compact
        ({**ok, "binary": {**ok["binary"], "hex": "0f  c2"}}, "messages[0].binary.hex"),
        ({**ok, "binary": {**ok["binary"], "hex": "0f c"}}, "messages[0].binary.hex"),
        ({**ok, "binary": {**ok["binary"], "hex": ""}}, "messages[0].binary.hex"),
        ({**ok, "binary": {"hex": "0f"}}, "messages[0].binary.dataCoding"),  # required
        ({**ok, "binary": {**ok["binary"], "esmClass": 256}}, "messages[0].binary.esmClass"),
        ({**ok, "binary": {**ok["binary"], "dataCoding": 0x80}}, "messages[0].binary.dataCoding"),
        ({**ok, "binary": {**ok["binary"], "dataCoding": "4"}}, "messages[0].binary.dataCoding"),
        ({**ok, "text": "Hi"}, "messages[0].text"),
        ({"from": "InfoSMS", "destinations": ok["destinations"]}, "messages[0].binary"),
    ]

    async def go() -> None:
        async with sandbox() as k:
            for message, field in cases:
                status, answer = await k.post(PATH, {"messages": [message]})
                assert status == 400, field
                assert answer["requestError"]["serviceException"]["text"].startswith(f"[{field} :")
            assert (await k.state())["acceptedMessages"] == 0

    run(go)


def test_a_malformed_header_or_too_many_parts_is_refused_per_destination() -> None:
    async def go() -> None:
        async with sandbox() as k:
            _, answer = await k.post(
                PATH,
                {
                    "messages": [
                        binary_message(NUMBERS[0], hex_="09 05 04", esm_class=64),  # runs past
                        binary_message(NUMBERS[1], hex_="41 80", data_coding=0),  # not a septet
                        binary_message(NUMBERS[2], hex_=spaced(b"\xab" * (134 * 25 + 1))),
                        binary_message(NUMBERS[3], hex_=spaced(b"\xab" * (134 * 25))),
                    ]
                },
            )
            names = [m["status"]["name"] for m in answer["messages"]]
            assert names[:3] == [
                "REJECTED_INVALID_UDH",
                "REJECTED_INVALID_UDH",
                "REJECTED_MESSAGE_TOO_LONG",
            ]
            assert (
                answer["messages"][3]["smsCount"] == 25 and names[3] != "REJECTED_MESSAGE_TOO_LONG"
            )

    run(go)
