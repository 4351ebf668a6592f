"""ANTS sender: how answers are read, which 400s are about destinations, what the logs say."""

from __future__ import annotations

import time

import orjson
import pytest

from config.settings import load
from core.batch import Batch, Destination
from core.errors import GatewayMisconfigured, GatewayProtocolError, GatewayRequestError
from providers.ants.auth import auth_header
from providers.ants.sender import check, named_destinations, parse_answer, parse_logs
from providers.base import Action
from providers.http import Answer

PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
FLOODED = {"groupId": 5, "groupName": "REJECTED", "id": 20, "name": "REJECTED_FLOODING_FILTER"}


def batch(shared: bool = True) -> Batch:
    dests = tuple(
        Destination(f"c-{i}", f"6681234560{i}", None if shared else f"Hi {i}") for i in range(3)
    )
    return Batch(
        "c", 0, "c-b0", "Shop", "Hi" if shared else None, dests, int(time.time() * 1000) + 60_000
    )


def bad_request(text: str) -> bytes:
    return orjson.dumps(
        {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": text}}}
    )


@pytest.mark.parametrize(
    ("shared", "text", "named"),
    [
        (True, "[messages[0].destinations[2].to : must be digits]", ("c-2",)),
        (False, "[messages[1].destinations[0].to : must be digits]", ("c-1",)),
        (False, "[messages[2].text : may not be empty]", ("c-2",)),  # one recipient's own text
        (False, "[messages[1].binary.hex : invalid]", ("c-1",)),  # one recipient's own payload
        (True, "[messages[0].binary.hex : invalid]", ()),  # the shared payload: the request
        (True, "[messages[0].text : may not be empty]", ()),  # the shared text: the request
        (False, "[messages[1].from : must be 1 to 11 characters]", ()),  # the sender: request
        (True, "[messages[0].validityPeriod : must be 1 to 2880 minutes]", ()),
        (True, "Invalid destination address 66812345601", ("c-1",)),
        (True, "Invalid login details", ()),
        (True, "", ()),
    ],
)
def test_which_destinations_a_400_is_about(shared: bool, text: str, named: tuple) -> None:
    assert named_destinations(batch(shared), bad_request(text)) == named


def test_a_400_about_a_destination_names_it_else_the_campaign_pauses() -> None:
    about = Answer(400, {}, bad_request("[messages[0].destinations[1].to : bad]"))
    with pytest.raises(GatewayRequestError) as e:
        check(about, batch())
    assert e.value.message_ids == ("c-1",)
    whole = Answer(400, {}, bad_request("[messages[0].from : must not contain spaces]"))
    with pytest.raises(GatewayMisconfigured):
        check(whole, batch())
    with pytest.raises(GatewayMisconfigured):  # a wrong path: never "failed"
        check(Answer(404, {}, b"404: Not Found"), batch())


def test_an_unreadable_entry_leaves_that_destination_unknown_not_the_batch() -> None:
    body = orjson.dumps(
        {
            "bulkId": "c-b0",
            "messages": [
                {
                    "to": "1",
                    "messageId": "c-0",
                    "status": PENDING,
                    "smsCount": "many",
                },  # malformed count
                {"to": "2", "messageId": "c-1", "status": "PENDING"},  # status not an object
                {"to": "3", "status": PENDING},  # no messageId
                {"to": "4", "messageId": "c-3", "status": PENDING, "smsCount": 2},
            ],
        }
    )
    results = parse_answer(body)
    assert [(r.message_id, r.verdict.action, r.sms_count) for r in results] == [
        ("c-0", Action.ACCEPTED, 0),
        ("c-3", Action.ACCEPTED, 2),
    ]


@pytest.mark.parametrize("body", [b"", b"<html>", b"[]", b'{"messages": 3}', b'{"bulkId": "x"}'])
def test_an_unreadable_answer_may_hide_an_acceptance(body: bytes) -> None:
    with pytest.raises(GatewayProtocolError) as e:
        parse_answer(body)
    assert e.value.maybe_sent


def test_logs_say_what_the_gateway_took() -> None:
    body = orjson.dumps(
        {
            "results": [
                {"messageId": "c-0", "to": "1", "status": PENDING},
                {"messageId": "c-1", "to": "2", "status": DELIVERED},
                {"messageId": "c-2", "to": "3", "status": FLOODED},  # refused: what the send said
            ]
        }
    )
    by_id = {r.message_id: r.verdict.action for r in parse_logs(body)}
    assert by_id == {
        "c-0": Action.ALREADY_DONE,
        "c-1": Action.ALREADY_DONE,
        "c-2": Action.THROTTLED,
    }


def test_the_authorization_header_is_built_from_the_raw_ants_settings() -> None:
    basic = load({"ANTS_USERNAME": "Aladdin", "ANTS_PASSWORD": "opensesame"})
    assert auth_header(basic) == "Basic QWxhZGRpbjpvcGVuc2VzYW1l"  # the example in the ANTS doc
    assert auth_header(load({"ANTS_API_KEY": "k1"})) == "App k1"
    assert not hasattr(basic, "auth_header")  # settings hold the variables, ANTS the header
