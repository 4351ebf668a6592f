"""ANTS: POST /sms/1/text/advanced, /sms/1/binary/advanced and GET /sms/1/logs, per the 2018
API document."""

from __future__ import annotations

import base64
from typing import Any

from config.settings import Settings
from core.binary import Binary
from core.errors import (
    GatewayAuthError,
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

PROVIDER = "ants"
AUTH = "Basic " + base64.b64encode(b"user:secret").decode()
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
DUPLICATE = {
    "groupId": 5,
    "groupName": "REJECTED",
    "id": 23,
    "name": "REJECTED_DUPLICATE_MESSAGE_ID",
}
BLACKLISTED = {"groupId": 5, "groupName": "REJECTED", "id": 14, "name": "REJECTED_DESTINATION"}
A = Action


def settings(base_url: str) -> Settings:
    return Settings(ants_base_url=base_url, ants_username="user", ants_password="secret")


def advanced(
    *dests: tuple[str, str],
    text: str = "Hi",
    texts: list[str] | None = None,
    fields: dict[str, Any] | None = None,
) -> Request:
    """The exact advanced-SMS body for these (messageId, number) destinations (`fields`:
    what every message carries besides)."""
    if texts is None:
        messages = [
            {
                "from": "Shop",
                "text": text,
                "validityPeriod": 2880,  # the cap: 48 h
                "destinations": [{"to": to, "messageId": mid} for mid, to in dests],
                **(fields or {}),
            }
        ]
    else:
        messages = [
            {
                "from": "Shop",
                "text": t,
                "validityPeriod": 2880,  # the cap: 48 h
                "destinations": [{"to": to, "messageId": mid}],
                **(fields or {}),
            }
            for (mid, to), t in zip(dests, texts, strict=True)
        ]
    return Request(
        "POST",
        "/sms/1/text/advanced",
        json={"bulkId": "c-b0", "messages": messages},
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )


def binary_advanced(*messages: tuple[list[tuple[str, str]], str], coding: Binary) -> Request:
    """The exact binary advanced body: a message per (destinations, spaced hex)."""
    return Request(
        "POST",
        "/sms/1/binary/advanced",
        json={
            "bulkId": "c-b0",
            "messages": [
                {
                    "from": "Shop",
                    "destinations": [{"to": to, "messageId": mid} for mid, to in dests],
                    "binary": {
                        "hex": hex_,
                        "dataCoding": coding.data_coding,
                        "esmClass": coding.esm_class,
                    },
                    "validityPeriod": 2880,
                }
                for dests, hex_ in messages
            ],
        },
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )


D0, D1 = ("c-0", "66812345600"), ("c-1", "66812345601")
WAP = Binary(0xF5, 64)  # 8-bit data, class 1, with a user data header (port addressing)
PORTS = "0605040b8423f0"


def answer(*statuses: dict) -> Answer:
    return Answer(
        200,
        {
            "bulkId": "c-b0",
            "messages": [
                {"to": to, "status": st, "smsCount": 1, "messageId": mid}
                for (mid, to), st in zip((D0, D1), statuses, strict=False)
            ],
        },
    )


def bad_request(text: str) -> Answer:
    return Answer(
        400, {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": text}}}
    )


def logs_request(*mids: str) -> Request:
    return Request(
        "GET", "/sms/1/logs", query={"messageId": ",".join(mids), "limit": str(len(mids))}
    )


# every message option, as the 2018 document writes its fields (the advanced example)
EVERY_OPTION = SendOptions(True, "TURKISH", Language("TR", single_shift=True), True)
EVERY_FIELD = {
    "flash": True,
    "transliteration": "TURKISH",
    "language": {"languageCode": "TR", "singleShift": True, "lockingShift": False},
    "intermediateReport": True,
}

CASES = [
    Case(
        "options: flash, transliteration, language and intermediateReport in the message",
        batch(options=EVERY_OPTION),
        [answer(PENDING, PENDING)],
        [advanced(D0, D1, fields=EVERY_FIELD)],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "options: every personalised message carries them; a locking shift alone",
        batch(
            texts=["Merhaba Ayşe", "Olá João"],
            options=SendOptions(language=Language("PT", locking_shift=True)),
        ),
        [answer(PENDING, PENDING)],
        [
            advanced(
                D0,
                D1,
                texts=["Merhaba Ayşe", "Olá João"],
                fields={
                    "language": {"languageCode": "PT", "singleShift": False, "lockingShift": True}
                },
            )
        ],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "options: intermediateReport alone, nothing else added",
        batch(options=SendOptions(intermediate_reports=True)),
        [answer(PENDING, PENDING)],
        [advanced(D0, D1, fields={"intermediateReport": True})],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "options: a Spanish locking shift (no such table) is refused before any request",
        batch(options=SendOptions(language=Language("ES", locking_shift=True))),
        [],
        [],
        refused="gateway ants does not take national language ES (locking shift)",
    ),
    Case(
        "shared text, both accepted",
        batch(),
        [answer(PENDING, PENDING)],
        [advanced(D0, D1)],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "personalised texts: one message each",
        batch(texts=["Hi Ann", "Hi Bob"]),
        [answer(PENDING, PENDING)],
        [advanced(D0, D1, texts=["Hi Ann", "Hi Bob"])],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "a reused messageId is already done; a blacklisted number permanent",
        batch(),
        [answer(DUPLICATE, BLACKLISTED)],
        [advanced(D0, D1)],
        {"c-0": A.ALREADY_DONE, "c-1": A.PERMANENT},
    ),
    Case(
        "a destination missing from the answer: unknown outcome",
        batch(),
        [answer(PENDING)],
        [advanced(D0, D1)],
        {"c-0": A.ACCEPTED},
    ),
    Case(
        "400 naming a destination",
        batch(),
        [bad_request("[messages[0].destinations[1].to : must be digits]")],
        [advanced(D0, D1)],
        error=GatewayRequestError,
    ),
    Case(
        "400 about the request itself: misconfigured",
        batch(),
        [bad_request("[messages[0].from : must be 1 to 11 characters]")],
        [advanced(D0, D1)],
        error=GatewayMisconfigured,
    ),
    Case(
        "401: credentials", batch(), [Answer(401, b"")], [advanced(D0, D1)], error=GatewayAuthError
    ),
    Case(
        "404: a wrong URL pauses",
        batch(),
        [Answer(404, b"404: Not Found")],
        [advanced(D0, D1)],
        error=GatewayMisconfigured,
    ),
    Case(
        "429 with Retry-After",
        batch(),
        [Answer(429, b"", {"Retry-After": "7"})],
        [advanced(D0, D1)],
        error=GatewayThrottled,
    ),
    Case("500", batch(), [Answer(500, b"")], [advanced(D0, D1)], error=GatewayServerError),
    Case(
        "an unreadable 200 may hide an acceptance",
        batch(),
        [Answer(200, b"<html>")],
        [advanced(D0, D1)],
        error=GatewayProtocolError,
    ),
    Case(
        "binary: one payload for all, spaced hex with dataCoding and esmClass",
        batch(text="00ff7f80", binary=Binary()),
        [answer(PENDING, PENDING)],
        [binary_advanced(([D0, D1], "00 ff 7f 80"), coding=Binary(4, 0))],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "binary: a payload each, with a user data header",
        batch(texts=[PORTS + "01", PORTS + "02"], binary=WAP),
        [answer(PENDING, PENDING)],
        [
            binary_advanced(
                ([D0], "06 05 04 0b 84 23 f0 01"), ([D1], "06 05 04 0b 84 23 f0 02"), coding=WAP
            )
        ],
        {"c-0": A.ACCEPTED, "c-1": A.ACCEPTED},
    ),
    Case(
        "binary: 400 naming one recipient's payload is about that one",
        batch(texts=["0a", "0b"], binary=Binary()),
        [bad_request("[messages[1].binary.hex : invalid]")],
        [binary_advanced(([D0], "0a"), ([D1], "0b"), coding=Binary())],
        error=GatewayRequestError,
    ),
    Case(
        "lookup: the logs have one of the two",
        batch(),
        [Answer(200, {"results": [{"messageId": "c-1", "to": "66812345601", "status": PENDING}]})],
        [logs_request("c-0", "c-1")],
        {"c-1": A.ALREADY_DONE},
        lookup=True,
    ),
]
