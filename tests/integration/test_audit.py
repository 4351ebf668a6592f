"""The audit trail: control actions from the command line's functions and the HTTP API
are recorded with who took them; `GET /v1/audit` reads it (admin only), by campaign."""

from __future__ import annotations

import pytest
import redis

from config.settings import Settings
from core import keys
from dispatcher import audit, control
from dispatcher.http import auth
from tests.http_kit import Api, api_server

pytestmark = pytest.mark.integration


def test_control_actions_are_audited_with_who_and_read_by_campaign(
    r: redis.Redis, redis_url: str
) -> None:
    r.sadd(keys.CAMPAIGNS, "a", "b")
    admin = auth.create(r, "ops", "admin", who="cli:root")
    reader = auth.create(r, "viewer", "read", who="cli:root")
    assert control.pause_campaign(r, "a", who="cli:ann")
    control.resume(r, lambda batch: None, "a", who="cli:ann")
    control.pause_campaign(r, "b")  # the command line's own user
    auth.revoke(r, "nobody", who="cli:ann")
    with api_server(Settings(redis_url=redis_url)) as base:
        api = Api(base, admin)
        assert api.call("GET", "/v1/audit", key=reader).status == 403
        assert api.call("GET", "/v1/audit?limit=0").status == 400
        assert api.call("GET", "/v1/audit?limit=x").status == 400
        newest = api.call("GET", "/v1/audit").json()["entries"]
        of_a = api.call("GET", "/v1/audit?campaign=a").json()["entries"]
    assert [(e["who"], e["action"]) for e in of_a] == [("cli:ann", "resume"), ("cli:ann", "pause")]
    assert [e["action"] for e in newest] == [
        "apikey revoke",
        "pause",
        "resume",
        "pause",
        "apikey create",
        "apikey create",
    ]
    assert newest[1]["who"] == audit.cli_user() and newest[1]["campaign"] == "b"
    assert all(admin not in str(e) and reader not in str(e) for e in newest)  # names only
    assert newest[-1]["detail"] == "ops (admin)" and newest[0]["at"] >= newest[-1]["at"]


def test_the_http_api_audits_its_control_actions_by_key_name(
    r: redis.Redis, redis_url: str
) -> None:
    r.sadd(keys.CAMPAIGNS, "c")
    admin = auth.create(r, "ops-ann", "admin")
    with api_server(Settings(redis_url=redis_url)) as base:
        api = Api(base, admin)
        for action in ("pause", "resume", "cancel"):
            assert api.call("POST", f"/v1/campaigns/c/{action}").status == 200
        trail = api.call("GET", "/v1/audit?campaign=c").json()["entries"]
    assert [(e["who"], e["action"]) for e in trail] == [
        ("key:ops-ann", "cancel"),
        ("key:ops-ann", "resume"),
        ("key:ops-ann", "pause"),
    ]
