"""The doors of the API server: the page's login is an opaque server-side session (never
the key in a cookie), ended by logout and by revoking its key; /metrics needs a key."""

from __future__ import annotations

import pytest
import redis

from config.settings import Settings
from dispatcher.http import auth, board
from tests.http_kit import Api, api_server

pytestmark = pytest.mark.integration
OPS = {board.CSRF_HEADER: "ops"}


def login(api: Api, key: str) -> tuple[str, str]:
    """Log in as the page does; the session cookie's value and its attributes."""
    answer = api.call("POST", "/ops/login", {"key": key}, key="")
    assert answer.status == 200, answer.body
    cookie = answer.headers["Set-Cookie"]
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    return value, cookie


def as_page(api: Api, method: str, path: str, session: str, **headers: str) -> int:
    cookie = {"Cookie": f"{board.COOKIE}={session}", **headers}
    return api.call(method, path, key="", headers=cookie).status


def test_the_login_cookie_is_an_opaque_session_ended_by_logout_and_revoke(
    r: redis.Redis, redis_url: str
) -> None:
    admin = auth.create(r, "ops", "admin")
    with api_server(Settings(redis_url=redis_url)) as base:
        api = Api(base)
        session, cookie = login(api, admin)
        assert admin not in cookie and session and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie and "Secure" not in cookie  # plain http here
        assert not any(admin.encode() in v for v in r.mget(r.keys("sms:session:*")))
        assert as_page(api, "GET", "/v1/campaigns", session) == 200
        assert as_page(api, "POST", "/v1/campaigns/x/pause", session) == 401  # no CSRF header
        assert as_page(api, "POST", "/v1/campaigns/x/pause", session, **OPS) == 404
        assert as_page(api, "GET", "/v1/campaigns", admin) == 401  # the key is no cookie
        api.call("POST", "/ops/logout", key="", headers={"Cookie": f"{board.COOKIE}={session}"})
        assert as_page(api, "GET", "/v1/campaigns", session) == 401

        again, _ = login(api, admin)
        assert again != session and as_page(api, "GET", "/v1/campaigns", again) == 200
        auth.revoke(r, "ops")
        assert as_page(api, "GET", "/v1/campaigns", again) == 401
        reader = auth.create(r, "reader", "read")
        assert api.call("POST", "/ops/login", {"key": reader}, key="").status == 401


def test_the_cookie_is_secure_behind_an_https_public_url(r: redis.Redis, redis_url: str) -> None:
    admin = auth.create(r, "ops", "admin")
    settings = Settings(redis_url=redis_url, public_url="https://sms.example.com")
    with api_server(settings) as base:
        _, cookie = login(Api(base), admin)
    assert "Secure" in cookie


def test_metrics_need_a_read_key(r: redis.Redis, redis_url: str) -> None:
    with api_server(Settings(redis_url=redis_url)) as base:
        api = Api(base)
        assert api.call("GET", "/metrics", key="").status == 401
        answer = api.call("GET", "/metrics", key=auth.create(r, "prometheus", "read"))
        assert answer.status == 200 and b"sms_queue_depth" in answer.body
