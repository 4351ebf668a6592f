"""The HTTP API on a real Redis: keys and scopes, campaigns from a streamed CSV, a form
or JSON, rejects and export, idempotent messages, problems; then a campaign run end to
end through HTTP alone, as a service in another language would, counted at the sandbox."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from config.settings import Settings
from dispatcher.http import auth
from dispatcher.stack import Stack
from tests.http_kit import Api, api_server
from tests.integration.conftest import assert_sent_once, settings_for, write_csv

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
def keys(r: redis.Redis) -> dict[str, str]:
    return {scope: auth.create(r, f"test-{scope}", scope) for scope in auth.SCOPES}


@pytest.fixture
def http(r: redis.Redis, redis_url: str, keys: dict[str, str]) -> Iterator[Api]:
    with api_server(Settings(redis_url=redis_url)) as base:
        yield Api(base, keys["send"])


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        ).encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_keys_are_kept_as_hashes_and_scopes_are_nested(
    r: redis.Redis, http: Api, keys: dict[str, str]
) -> None:
    stored = r.hgetall("sms:apikeys")
    assert len(stored) == 3 and not any(k.encode() in b"".join(stored) for k in keys.values())
    assert all(auth.digest(k).encode() in stored for k in keys.values())
    none = http.call("GET", "/v1/campaigns", key="")
    assert none.status == 401 and none.headers["WWW-Authenticate"] == "Bearer"
    assert none.headers["Content-Type"].startswith(PROBLEM)
    assert http.call("GET", "/v1/campaigns", key="sk_wrong").status == 401
    assert http.call("GET", "/v1/campaigns", key=keys["read"]).status == 200
    denied = http.call("POST", "/v1/messages", {"to": "0812345678", "text": "x"}, key=keys["read"])
    assert denied.status == 403 and "'send'" in denied.json()["detail"]
    assert http.call("POST", "/v1/campaigns/x/pause").status == 403  # send < admin
    assert auth.revoke(r, "test-read") == 1
    assert http.call("GET", "/v1/campaigns", key=keys["read"]).status == 401


def test_csv_upload_streams_rejects_and_is_idempotent(http: Api, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "up.csv", 300, bad=2).read_bytes()
    q = "/v1/campaigns?campaign=up&text=Hi%20%7Bname%7D"
    first = http.call("POST", q, data, content_type="text/csv")
    assert first.status == 201, first.body
    assert (first.json()["valid"], first.json()["invalid"]) == (300, 2)
    assert first.headers["Location"] == "/v1/campaigns/up"
    again = http.call("POST", q, data, content_type="text/csv").json()
    assert again["enqueued"] == 0 and again["skipped"] == first.json()["batches"]
    rejects = http.call("GET", "/v1/campaigns/up/rejects")
    assert rejects.headers["Content-Type"].startswith("text/csv")
    assert rejects.body.decode().count("invalid number") == 2
    status = http.call("GET", "/v1/campaigns/up").json()
    assert status["messages"] == 300 and status["state"] == "sending"


def test_multipart_form_and_json_recipients(http: Api, tmp_path: Path) -> None:
    fields = {"campaign": "form", "text": "Hi {name}", "window": "09:00-20:00"}
    body, ctype = multipart(fields, "my list.csv", write_csv(tmp_path / "f.csv", 20).read_bytes())
    ans = http.call("POST", "/v1/campaigns", body, content_type=ctype)
    assert ans.status == 201 and ans.json()["valid"] == 20, ans.body
    assert http.call("GET", "/v1/campaigns/form").json()["window"] == "09:00-20:00"
    people = [{"phone": "0812345678", "name": "Ann"}, {"phone": "12", "name": "x"}]
    js = {"campaign": "js", "text": "Hi {name}", "recipients": people}
    ans = http.call("POST", "/v1/campaigns", js)
    assert ans.status == 201 and (ans.json()["valid"], ans.json()["invalid"]) == (1, 1)


def test_dry_run_plans_and_writes_nothing_then_the_plan_hash_approves(
    r: redis.Redis, http: Api, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "dry.csv", 50, bad=1).read_bytes()
    text = "Hi%20%7Bname%7D%20%E2%80%94%20bye"  # "Hi {name} — bye": UCS-2 by its dash
    before = sorted(r.scan_iter())
    q = f"/v1/campaigns?campaign=dry&text={text}&dry_run=true"
    ans = http.call("POST", q, data, content_type="text/csv")
    assert ans.status == 200, ans.body
    p = ans.json()
    assert (p["valid"], p["invalid"], p["encoding"], p["not_gsm"]) == (50, 1, "UCS2", "—")
    assert p["gsm_safe_would_fix"] and sorted(r.scan_iter()) == before  # nothing written
    safe = http.call("POST", q + "&gsm_safe=true", data, content_type="text/csv").json()
    assert (safe["encoding"], safe["replaced"]) == ("GSM7", {"—": 50})
    stale = f"/v1/campaigns?campaign=dry&text={text}&plan_hash={p['hash']}&gsm_safe=1"
    refused = http.call("POST", stale, data, content_type="text/csv")
    assert refused.status == 409 and "changed since the plan" in refused.json()["detail"]
    ok = http.call("POST", stale.replace(p["hash"], safe["hash"]), data, content_type="text/csv")
    assert ok.status == 201 and ok.json()["replaced"] == {"—": 50}, ok.body
    people = {"text": "Hi {name}", "recipients": [{"phone": "0812345678", "name": "Ann"}]}
    js = http.call("POST", "/v1/campaigns?dry_run=true", people)  # no campaign id needed
    assert js.status == 200 and js.json()["valid"] == 1, js.body


@pytest.mark.parametrize(
    ("path", "body", "ctype", "field"),
    [
        (
            "/v1/campaigns",
            {"text": "x", "recipients": [{"phone": "0812345678"}]},
            "json",
            "campaign",
        ),
        ("/v1/campaigns", {"campaign": "a", "text": "x", "recipients": []}, "json", "recipients"),
        (
            "/v1/campaigns",
            {"campaign": "bad id!", "text": "x", "recipients": [{"phone": "0812345678"}]},
            "json",
            "campaign",
        ),
        (
            "/v1/campaigns",
            {
                "campaign": "a",
                "text": "x",
                "send_at": "tomorrow",
                "recipients": [{"phone": "0812345678"}],
            },
            "json",
            "send_at",
        ),
        (
            "/v1/campaigns?campaign=a&text=x&phone_column=mobile",
            b"phone\n0812345678\n",
            "csv",
            "mobile",
        ),
        ("/v1/messages", {"to": "0812345678"}, "json", "text"),
        ("/v1/messages", b"{not json", "json", "body"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_field(
    http: Api, path: str, body: object, ctype: str, field: str
) -> None:
    content_type = "text/csv" if ctype == "csv" else "application/json"
    ans = http.call("POST", path, body, content_type=content_type)
    assert ans.status == 400, ans.body
    assert ans.headers["Content-Type"].startswith(PROBLEM)
    problem = ans.json()
    assert problem["status"] == 400 and field in (problem.get("field", "") + problem["detail"])


def test_unknown_campaign_is_404_and_unsupported_body_415(http: Api) -> None:
    assert http.call("GET", "/v1/campaigns/nope").status == 404
    assert http.call("GET", "/v1/campaigns/nope/export").status == 404
    ans = http.call("POST", "/v1/campaigns", b"<x/>", content_type="application/xml")
    assert ans.status == 415 and ans.headers["Content-Type"].startswith(PROBLEM)


def test_idempotency_key_same_body_same_message_other_body_409(r: redis.Redis, http: Api) -> None:
    msg = {"to": "0812345678", "text": "Your code is 1234"}
    first = http.call("POST", "/v1/messages", msg, headers={"Idempotency-Key": "order-1"})
    again = http.call("POST", "/v1/messages", msg, headers={"Idempotency-Key": "order-1"})
    assert first.status == again.status == 202
    assert first.json()["messageId"] == again.json()["messageId"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert r.llen("dramatiq:transactional") == 1  # enqueued once
    other = http.call(
        "POST", "/v1/messages", {**msg, "text": "changed"}, headers={"Idempotency-Key": "order-1"}
    )
    assert other.status == 409 and other.headers["Content-Type"].startswith(PROBLEM)
    fresh = http.call("POST", "/v1/messages", msg, headers={"Idempotency-Key": "order-2"})
    assert fresh.json()["messageId"] != first.json()["messageId"]


def test_a_campaign_end_to_end_over_http_only(
    r: redis.Redis, redis_url: str, stack: Stack, keys: dict[str, str], tmp_path: Path
) -> None:
    """What README shows with curl: upload, watch, pause, resume, export; sent once each."""
    base = stack.sandbox()
    stack.workers(processes=2, threads=4, SMS_RATE="300/1s")
    settings = settings_for(redis_url, base, batch_size=50)
    with api_server(settings) as url:
        svc, ops = Api(url, keys["send"]), Api(url, keys["admin"])
        data = write_csv(tmp_path / "e.csv", 1500).read_bytes()
        ans = svc.call(
            "POST",
            "/v1/campaigns?campaign=http&text=Hi%20%7Bname%7D",
            data,
            content_type="text/csv",
        )
        assert ans.status == 201, ans.body
        time.sleep(1.0)
        paused = ops.call("POST", "/v1/campaigns/http/pause").json()
        assert paused["state"] == "paused" and paused["changed"] is True
        assert ops.call("POST", "/v1/campaigns/http/resume").json()["state"] == "sending"
        deadline = time.monotonic() + 60
        while (st := svc.call("GET", "/v1/campaigns/http").json())["state"] != "done":
            assert time.monotonic() < deadline, st
            time.sleep(0.3)
        assert st["counts"] == {"accepted": 1500}
        export = svc.call("GET", "/v1/campaigns/http/export").body.decode().splitlines()
        assert len(export) == 1501 and export[0].startswith("messageId,to,state")
    assert_sent_once(base, {f"http-{line}" for line in range(2, 1502)})


def test_a_message_state_is_read_by_its_id_an_otp_pin_too(r: redis.Redis, http: Api) -> None:
    from core.outcomes import Event, State, StreamPolicy, record
    from dispatcher.otp import OTP_CAMPAIGN

    shop = Event("shop-7", "shop", State.DELIVERED, to="66810000007", provider="ants")
    record(r, [shop, Event("9C817C6F8AF3D48F", OTP_CAMPAIGN, State.ACCEPTED)], StreamPolicy())
    got = http.call("GET", "/v1/messages/shop-7").json()
    assert (got["state"], got["to"], got["campaign"], got["provider"]) == (
        "delivered",
        "66810000007",
        "shop",
        "ants",
    )
    pin = http.call("GET", "/v1/messages/9C817C6F8AF3D48F").json()
    assert (pin["state"], pin["campaign"]) == ("accepted", OTP_CAMPAIGN)
    assert http.call("GET", "/v1/messages/shop-8").status == 404


def test_unknown_messages_are_listed_read_only_and_resent_or_dropped_by_admin(
    r: redis.Redis, http: Api, keys: dict[str, str]
) -> None:
    from core import keys as rkeys
    from core.batch import Batch, Destination
    from core.outcomes import Event, State, StreamPolicy, record
    from core.unknown import entries

    dests = [Destination(f"u-{i}", f"42060000000{i}") for i in range(3)]
    batch = Batch("u", 0, "u-b0", "Shop", "Hi", tuple(dests), int(time.time() * 1000) + 60_000)
    r.sadd(rkeys.CAMPAIGNS, "u")
    r.hset(rkeys.campaign_counts("u"), "queued", 3)
    r.hset(rkeys.campaign_unknown("u"), mapping=entries(batch, dests, "timed out", 1))
    record(r, [Event(d.message_id, "u", State.UNKNOWN, to=d.to) for d in dests], StreamPolicy())

    listed = http.call("GET", "/v1/campaigns/u/unknown", key=keys["read"])
    assert listed.status == 200 and [m["messageId"] for m in listed.json()["unknown"]] == [
        "u-0",
        "u-1",
        "u-2",
    ]
    assert http.call("GET", "/v1/campaigns/nope/unknown", key=keys["read"]).status == 404
    assert http.call("POST", "/v1/campaigns/u/unknown/resend").status == 403  # send < admin
    bad = http.call(
        "POST", "/v1/campaigns/u/unknown/drop", {"messageIds": "u-0"}, key=keys["admin"]
    )
    assert bad.status == 400 and bad.headers["Content-Type"].startswith(PROBLEM)
    one = {"messageIds": ["u-1"]}
    resent = http.call("POST", "/v1/campaigns/u/unknown/resend", one, key=keys["admin"])
    assert resent.status == 200 and resent.json()["resent"] == 1
    assert r.llen("dramatiq:campaign") == 1
    dropped = http.call("POST", "/v1/campaigns/u/unknown/drop", key=keys["admin"])
    assert dropped.status == 200 and dropped.json()["dropped"] == 2
    status = http.call("GET", "/v1/campaigns/u", key=keys["read"]).json()
    assert status["counts"] == {"queued": 1, "canceled": 2} and status["unknown"] == 0
    last = r.xrevrange(rkeys.OUTCOMES, count=1)[0][1]
    assert b"dropped by key:test-admin" in last[b"reason"]


# -- hostile and careless input (issue 20) ----------------------------------------------


def chunked_post(base: str, path: str, key: str, pieces: list[bytes]) -> tuple[int, Any]:
    """POST a body in chunks, with no Content-Length (as a stream of unknown size is sent)."""
    host, port = base.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=iter(pieces),
            encode_chunked=True,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        )
        answer = conn.getresponse()
        return answer.status, orjson.loads(answer.read())
    finally:
        conn.close()


@pytest.fixture
def capped(
    r: redis.Redis,
    redis_url: str,
    keys: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Api, Path]]:
    """The API with a 4 KiB upload cap; its temporary files go under a folder of the test's."""
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads))
    with api_server(Settings(redis_url=redis_url, max_upload_bytes=4096)) as base:
        yield Api(base, keys["send"]), uploads


def test_an_upload_over_the_cap_is_a_413_from_its_length(
    r: redis.Redis, capped: tuple[Api, Path], tmp_path: Path
) -> None:
    http, uploads = capped
    data = write_csv(tmp_path / "big.csv", 300).read_bytes()
    assert len(data) > 4096
    ans = http.call("POST", "/v1/campaigns?campaign=big&text=Hi", data, content_type="text/csv")
    assert ans.status == 413 and ans.headers["Content-Type"].startswith(PROBLEM), ans.body
    assert "SMS_MAX_UPLOAD_BYTES" in ans.json()["detail"]
    form, ctype = multipart({"campaign": "big", "text": "Hi"}, "big.csv", data)
    assert http.call("POST", "/v1/campaigns", form, content_type=ctype).status == 413
    assert not r.exists("sms:c:{big}:meta") and list(uploads.iterdir()) == []
    small = write_csv(tmp_path / "small.csv", 5).read_bytes()
    ok = http.call("POST", "/v1/campaigns?campaign=small&text=Hi", small, content_type="text/csv")
    assert ok.status == 201, ok.body


def test_a_chunked_upload_over_the_cap_is_cut_off_with_a_413(
    r: redis.Redis, capped: tuple[Api, Path]
) -> None:
    http, uploads = capped
    rows = [b"phone,name\n"] + [b"0812345678,Ann\n" * 20] * 40  # 12 KB, no Content-Length
    status, problem = chunked_post(http.base, "/v1/campaigns?campaign=big&text=Hi", http.key, rows)
    assert status == 413 and "SMS_MAX_UPLOAD_BYTES" in problem["detail"], problem
    assert not r.exists("sms:c:{big}:meta") and not r.sismember("sms:campaigns", "big")
    assert list(uploads.iterdir()) == []  # the temporary file is gone


def test_rejects_are_kept_bounded_in_redis_and_say_when_cut(
    r: redis.Redis, http: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher import campaign as campaigns

    monkeypatch.setattr(campaigns, "REJECTS_KEPT_ROWS", 50)
    junk = b"phone,name\n" + b"".join(b"12%d,%s\n" % (i, b"x" * 200) for i in range(2000))
    ans = http.call("POST", "/v1/campaigns?campaign=junk&text=Hi", junk, content_type="text/csv")
    assert ans.status == 201 and ans.json()["invalid"] == 2000, ans.body
    kept = r.lrange("sms:c:{junk}:rejects", 0, -1)
    assert sum(map(len, kept)) < 50 * 300  # the first 50 rows, not 2000 (over 400 KB)
    got = http.call("GET", "/v1/campaigns/junk/rejects")
    lines = got.body.decode().splitlines()
    assert lines[0].startswith("line,field,reason") and len(lines) == 51
    assert lines[1].startswith("2,phone,") and lines[50].startswith("51,phone,")
    assert got.headers["Rejects-Total"] == "2000" and got.headers["Rejects-Kept"] == "50"
    assert got.headers["Rejects-Truncated"] == "true"


def test_a_refused_message_does_not_claim_its_idempotency_key(r: redis.Redis, http: Api) -> None:
    key = {"Idempotency-Key": "order-9"}
    bad = http.call("POST", "/v1/messages", {"to": "12", "text": "Your order"}, headers=key)
    assert bad.status == 400 and bad.json()["field"] == "to", bad.body
    good = http.call(
        "POST", "/v1/messages", {"to": "0812345678", "text": "Your order"}, headers=key
    )
    assert good.status == 202, good.body
    assert good.headers.get("Idempotent-Replayed") is None and r.llen("dramatiq:transactional") == 1


def test_a_send_key_adds_messages_only_to_transactional_campaigns(
    r: redis.Redis, http: Api, keys: dict[str, str], tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "bulk.csv", 3).read_bytes()
    assert (
        http.call(
            "POST", "/v1/campaigns?campaign=bulk&text=Hi", data, content_type="text/csv"
        ).status
        == 201
    )
    msg = {"to": "0812345678", "text": "Your order"}
    into_bulk = http.call("POST", "/v1/messages", {**msg, "campaign": "bulk"})
    assert into_bulk.status == 400 and into_bulk.json()["field"] == "campaign", into_bulk.body
    assert http.call("POST", "/v1/messages", {**msg, "campaign": "otp"}).status == 400
    own = http.call("POST", "/v1/messages", {**msg, "campaign": "receipts"})
    assert own.status == 202 and own.json()["campaign"] == "receipts", own.body
    assert http.call("POST", "/v1/messages", {**msg, "campaign": "receipts"}).status == 202
    refused = http.call(
        "POST", "/v1/campaigns?campaign=receipts&text=Hi", data, content_type="text/csv"
    )
    assert refused.status == 400 and refused.json()["field"] == "campaign", refused.body
    admin = Api(http.base, keys["admin"])
    for action in ("pause", "cancel"):  # a channel: pausing it would park every send
        answer = admin.call("POST", f"/v1/campaigns/receipts/{action}")
        assert answer.status == 409 and "channel" in answer.json()["detail"], answer.body
    status = http.call("GET", "/v1/campaigns/receipts").json()
    assert (status["kind"], status["state"]) == ("messages", "open")
    r.hset("sms:c:{receipts}:meta", "canceled", 1)  # canceled before channels were refused
    canceled = http.call("POST", "/v1/messages", {**msg, "campaign": "receipts"})
    assert canceled.status == 409 and "canceled" in canceled.json()["detail"], canceled.body
    assert r.llen("dramatiq:transactional") == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("delimiter=ab", "delimiter"),
        ("send_at=9999-12-31T23:59%2B00:00", "send_at"),
        ("send_at=9999-12-31T23:59%2B00:00&dry_run=true", "send_at"),
    ],
)
def test_a_bad_delimiter_or_send_at_is_a_400_problem_not_a_500(
    http: Api, query: str, field: str
) -> None:
    data = b"phone,name\n0812345678,Ann\n"
    ans = http.call(
        "POST", f"/v1/campaigns?campaign=odd&text=Hi&{query}", data, content_type="text/csv"
    )
    assert ans.status == 400 and ans.headers["Content-Type"].startswith(PROBLEM), ans.body
    assert ans.json()["field"] == field


def test_the_dry_run_names_the_upload_not_the_servers_path(http: Api, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "named.csv", 3).read_bytes()
    plain = http.call("POST", "/v1/campaigns?text=Hi&dry_run=true", data, content_type="text/csv")
    assert plain.status == 200 and plain.json()["file"] == "upload.csv", plain.body
    form, ctype = multipart({"text": "Hi", "dry_run": "true"}, "spring list.csv", data)
    named = http.call("POST", "/v1/campaigns?dry_run=true", form, content_type=ctype)
    assert named.status == 200 and named.json()["file"] == "spring_list.csv", named.body
    answers = (plain.body + named.body).decode()
    assert tempfile.gettempdir() not in answers  # the upload's temporary file
    assert str(Path(__file__).resolve().parents[2]) not in answers  # the price table's folder


def test_a_stray_quote_rejects_its_line_and_the_rows_after_it_are_imported(http: Api) -> None:
    data = b'phone,name\n0812345671,Ann\n0812345672,"Bob\n0812345673,Cat\n0812345674,Dan\n'
    ans = http.call("POST", "/v1/campaigns?campaign=quote&text=Hi", data, content_type="text/csv")
    assert ans.status == 201 and (ans.json()["valid"], ans.json()["invalid"]) == (3, 1), ans.body
    rejects = http.call("GET", "/v1/campaigns/quote/rejects").body.decode().splitlines()
    assert rejects[1].startswith("3,name,") and "never closed" in rejects[1]


def test_tracked_links_over_http_need_sms_link_base_and_plan_with_the_short_link(
    r: redis.Redis, redis_url: str, keys: dict[str, str]
) -> None:
    people = [{"phone": "0812345678", "name": "Ann"}, {"phone": "0812345679", "name": "Bo"}]
    linked = {"campaign": "sale", "text": "Hi {name} {link:https://example.org/s}"}
    with api_server(Settings(redis_url=redis_url)) as base:
        refused = Api(base, keys["send"]).call(
            "POST", "/v1/campaigns", {**linked, "recipients": people}
        )
        assert refused.status == 503 and "SMS_LINK_BASE" in refused.json()["detail"]
        assert not r.sismember("sms:campaigns", "sale")  # nothing written
    with api_server(Settings(redis_url=redis_url, link_base="https://s.example.com")) as base:
        http = Api(base, keys["send"])
        body = {"text": "Sale at https://example.org/s, {name}", "recipients": people}
        plan = http.call("POST", "/v1/campaigns?dry_run=true", {**body, "track_links": True})
        assert plan.status == 200 and plan.json()["links"] == ["https://example.org/s"]
        assert http.call("POST", "/v1/campaigns?dry_run=true", body).json()["links"] == []
        bad = http.call(
            "POST", "/v1/campaigns", {**linked, "text": "{link:ftp://x}", "recipients": people}
        )
        assert bad.status == 400 and bad.json()["field"] == "text"
        made = http.call("POST", "/v1/campaigns", {**linked, "recipients": people})
        assert made.status == 201 and made.json()["valid"] == 2, made.body
        clicks = http.call("GET", "/v1/campaigns/sale").json()["clicks"]
        assert clicks == {"tracked": True, "total": 0, "messages": 0, "rate": 0.0, "agents": {}}
