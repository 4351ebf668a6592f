"""The operator console in a real browser (Playwright driving Debian's Chromium): a
campaign made from the page alone, through plan and approve, watched to `done` with its
funnel and chart, its export downloaded; then a campaign with a tracked link whose short
links are opened (its clicks on its page, in `status --json` and in the export); and the
dead-letter, unknown-outcome, opt-out and API-key pages.  SMS_OPS_SCREENSHOTS=DIR keeps
screenshots of the plan and the campaign's page (README's: SMS_OPS_SCREENSHOTS=docs)."""

from __future__ import annotations

import base64
import csv
import http.client
import io
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import redis
from playwright.sync_api import Page, expect, sync_playwright

from config.settings import Settings
from core import keys, optout
from core.batch import Batch, Destination
from core.outcomes import Event, State, StreamPolicy, record
from core.unknown import entries
from dispatcher import api, audit, control
from dispatcher.http import auth
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, Stack
from tests.http_kit import api_server
from tests.integration.conftest import settings_for, wait_for
from tests.integration.test_ops_page import CHROMIUM

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).parents[2] / "examples" / "campaign.csv"
TEXT = "Hi {name}, your code is {code}. Reply STOP to opt out."
SHOTS = os.environ.get("SMS_OPS_SCREENSHOTS", "")
FUNNEL = ("sent", "unknown", "not-sent", "waiting")
OF_THE_SENT = ("delivered", "awaiting", "undeliverable", "rejected", "expired")
AUDITED = (
    "deadletters replay",
    "unknown drop",
    "unknown resend",
    "optout add",
    "optout remove",
    "apikey create",
    "apikey revoke",
)
RECORD_FORMS = """() => {  // the text fields of every form the page uploads from now on
  window.sentForms = [];
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    window.sentForms.push(Object.fromEntries([...body].filter(([, v]) => typeof v === "string")));
    return send.call(this, body);
  };
}"""
HOOK_USER, HOOK_PASSWORD = "hook", "hook-secret"
REPORTS = {
    "delay_ms": 200,
    "jitter_ms": 800,
    "username": HOOK_USER,
    "password": HOOK_PASSWORD,
    "outcomes": {"DELIVERED": 0.94, "UNDELIVERABLE": 0.03, "EXPIRED": 0.03},
}


def figure(page: Page, testid: str) -> int:
    return int(re.sub(r"[^0-9]", "", page.get_by_test_id(testid).first.inner_text()))


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def browser_page(r: redis.Redis) -> Iterator[tuple[Page, str]]:
    """A Chromium page and an admin key (the page logs in with it)."""
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: `make install` installs it"
    key = auth.create(r, "operator", "admin")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        page.on("dialog", lambda dialog: dialog.accept())  # cancel, replay all: confirmed
        yield page, key
        browser.close()


@contextmanager
def serving(settings: Settings, page: Page) -> Iterator[str]:
    """The API for the page; the page's event stream ends before the server stops."""
    with api_server(settings) as url:
        try:
            yield url
        finally:
            page.goto("about:blank")


def log_in(page: Page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.get_by_test_id("login-key").fill(key)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("live")).to_have_text("live", timeout=10_000)


@pytest.mark.slow
def test_a_campaign_from_the_browser_planned_approved_watched_and_exported(
    r: redis.Redis, redis_url: str, stack: Stack, browser_page: tuple[Page, str]
) -> None:
    page, key = browser_page
    base = stack.sandbox(SANDBOX_CONFIG=orjson.dumps({"dlr": REPORTS}).decode())
    hook = stack.webhook(HOOK_USER, HOOK_PASSWORD)
    stack.workers(processes=2, threads=4, SMS_NOTIFY_URL=hook)
    settings = settings_for(redis_url, base)
    with serving(settings, page) as url:
        log_in(page, url, key)
        page.get_by_test_id("new-campaign").click()
        page.get_by_test_id("csv-file").set_input_files(EXAMPLE)
        page.get_by_test_id("campaign-name").fill("spring")
        page.get_by_test_id("text").fill(TEXT)
        # the preview: the first rows filled in the browser, a Thai name turns UCS-2
        rows = page.get_by_test_id("preview-row")
        expect(rows).to_have_count(5)
        expect(rows.nth(0)).to_contain_text("Hi Preecha, your code is 682554.")
        expect(rows.nth(0)).to_contain_text("GSM-7")
        expect(rows.nth(1)).to_contain_text("UCS-2")
        expect(page.get_by_test_id("text-facts")).to_contain_text("GSM-7, 1 part")

        page.get_by_test_id("plan-button").click()
        expect(page.get_by_test_id("plan-valid")).to_have_text("9,993", timeout=30_000)
        expect(page.get_by_test_id("plan-invalid")).to_have_text("6")
        expect(page.get_by_test_id("plan-duplicates")).to_have_text("1")
        expect(page.get_by_test_id("plan-parts")).to_have_text("9,993")
        expect(page.get_by_test_id("plan-cost")).to_contain_text("THB")
        expect(page.get_by_test_id("plan")).to_contain_text("UCS-2")
        expect(page.get_by_test_id("upload-progress")).to_have_attribute("aria-valuenow", "100")
        assert not r.sismember(keys.CAMPAIGNS, "spring"), "the plan wrote a campaign"
        shot(page, "ops-plan")

        page.get_by_test_id("text").fill(TEXT + " ")  # a changed text takes the approval away
        expect(page.get_by_test_id("approve-button")).to_be_disabled()
        page.get_by_test_id("text").fill(TEXT)
        page.get_by_test_id("plan-button").click()
        expect(page.get_by_test_id("approve-button")).to_be_enabled(timeout=30_000)
        planned = page.get_by_test_id("plan-hash").inner_text()
        page.evaluate(RECORD_FORMS)
        page.get_by_test_id("approve-button").click()

        expect(page).to_have_url(re.compile(r"#/c/spring$"), timeout=30_000)
        expect(page.get_by_test_id("campaign-state")).to_have_text("done", timeout=60_000)
        expect(page.get_by_test_id("detail-text")).to_have_text(TEXT)
        assert page.evaluate("window.sentForms") == [
            {"campaign": "spring", "text": TEXT, "plan_hash": planned}
        ]
        expect(page.get_by_test_id("funnel-awaiting")).to_have_text("0", timeout=30_000)
        st = control.status(r, "spring")  # every report in: nothing changes any more
        counts = Counter(st["counts"])
        assert st["messages"] == 9993 and counts["delivered"] > 9000
        for name, n in (
            ("messages", 9993),
            ("sent", st["sent"]),
            ("unknown", st["unknown"]),
            ("delivered", counts["delivered"]),
            ("undeliverable", counts["undeliverable"]),
            ("expired", counts["expired"]),
            ("not-sent", st["ended_unsent"]),
            ("waiting", 0),
        ):
            expect(page.get_by_test_id("funnel-" + name)).to_have_text(f"{n:,}")
        shown = {name: figure(page, "funnel-" + name) for name in FUNNEL + OF_THE_SENT}
        assert sum(shown[n] for n in FUNNEL) == 9993, shown  # the funnel adds up
        assert sum(shown[n] for n in OF_THE_SENT) == shown["sent"], shown
        assert page.get_by_test_id("funnel-uncounted").count() == 0
        expect(page.get_by_test_id("funnel-check")).to_contain_text("= messages")

        chart = page.get_by_test_id("rate-chart")
        expect(chart).to_have_attribute("data-points", re.compile(r"^([3-9]|\d\d+)$"))
        expect(chart.locator("polyline.sent")).to_have_count(1)
        expect(chart.locator("polyline.delivered")).to_have_count(1)
        points = orjson.loads(
            page.evaluate("fetch('/v1/campaigns/spring/chart').then(r => r.text())")
        )
        assert points["points"][-1][1:] == [shown["sent"], shown["delivered"]]
        shot(page, "ops-campaign")

        with page.expect_download() as download:
            page.get_by_test_id("export-link").click()
        exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert len(exported) == 9993
        assert Counter(row["state"] for row in exported) == counts  # page, status, export agree
        with page.expect_download() as rejects:
            page.get_by_test_id("rejects-link").click()
        rejected = Path(rejects.value.path()).read_text().splitlines()
        assert len(rejected) == 1 + 7  # the header, 6 invalid rows and 1 duplicate

        # the same page, server and workers: issue 23's tracked links, "done when"
        clicks_are_shown(r, page, redis_url, base, settings.with_overrides(link_base=url))


SALE = "https://example.org/sale"
LINKED, OPENED = 120, 100  # recipients of the tracked campaign, short links opened


def sent_texts(base: str, message_ids: list[str]) -> dict[str, str]:
    """messageId -> the text the sandbox gateway took (its GET /sms/1/logs)."""
    auth_header = base64.b64encode(f"{SANDBOX_USER}:{SANDBOX_PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{base}/sms/1/logs?limit=1000&messageId={','.join(message_ids)}",
        headers={"Authorization": f"Basic {auth_header}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return {m["messageId"]: m["text"] for m in orjson.loads(resp.read())["results"]}


def clicks_are_shown(
    r: redis.Redis, page: Page, redis_url: str, base: str, settings: Settings
) -> None:
    """A campaign whose text holds {link:...} goes through the sandbox; opening OPENED of its
    short links records OPENED clicks, shown on its page, in `status --json`, in the export."""
    recipients = [{"phone": f"08123{n:05d}", "name": f"N{n}"} for n in range(LINKED)]
    text = f"Hi {{name}}, the sale is on: {{link:{SALE}}}"
    report = api.enqueue_campaign(recipients, campaign="links", text=text, settings=settings)
    assert report.valid == LINKED
    wait_for(r, "links", lambda st: st["sent"] >= LINKED, timeout=60)
    texts = sent_texts(base, [f"links-{line}" for line in range(2, LINKED + 2)])
    assert len(texts) == LINKED
    short = {mid: t.rsplit(" ", 1)[1] for mid, t in texts.items()}
    assert len(set(short.values())) == LINKED  # a link per recipient
    assert all(link.startswith(settings.link_base + "/l/") for link in short.values())
    where = urlsplit(settings.link_base)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    opened = sorted(short)[:OPENED]
    for path, status in ((urlsplit(short[opened[0]]).path, 302), ("/l/" + "B" * 13, 404)):
        connection.request("HEAD", path)  # a link checker's: answered, never counted
        answer = connection.getresponse()
        answer.read()
        assert answer.status == status
    for mid in opened:
        connection.request("GET", urlsplit(short[mid]).path, headers={"User-Agent": "Firefox/121"})
        answer = connection.getresponse()
        answer.read()
        assert (answer.status, answer.getheader("Location")) == (302, SALE)
    for path in ("/l/" + "A" * 13, "/l/short", "/l/" + "A" * 13 + "/x"):  # leaks nothing
        connection.request("GET", path)
        answer = connection.getresponse()
        assert answer.status == 404 and b"does not exist" in answer.read()
    connection.close()

    shown = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "status", "links", "--json"],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        check=True,
    )
    clicks = orjson.loads(shown.stdout)["clicks"]
    assert (clicks["total"], clicks["messages"]) == (OPENED, OPENED)
    assert clicks["rate"] == round(OPENED / LINKED, 4) and clicks["agents"] == {"Firefox": OPENED}

    exported = page.evaluate("fetch('/v1/campaigns/links/export').then(r => r.text())")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {row["messageId"]: int(row["clicks"]) for row in rows} == {
        mid: int(mid in opened) for mid in texts
    }

    page.goto(page.url.split("#")[0] + "#/c/links")
    expect(page.get_by_test_id("clicks")).to_have_text(f"{OPENED:,}", timeout=10_000)
    expect(page.get_by_test_id("clicked-messages")).to_have_text(f"{OPENED:,}")
    expect(page.get_by_test_id("click-rate")).to_have_text(f"{100 * OPENED / LINKED:.1f} %")
    chart = page.get_by_test_id("clicks-chart")
    expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    shot(page, "ops-clicks")


def dead_letter(store: redis.Redis, message_id: str, to: str) -> None:
    """A message dead as the worker leaves it (tests/unit/test_deadletter_replay.py)."""
    batch = Batch("dl", 0, "dl-b0", "Shop", "Hi", (Destination(message_id, to),), 1)
    store.sadd(keys.CAMPAIGNS, "dl")
    store.hset(keys.campaign_meta("dl"), mapping={"created": 1, "messages": 2, "imported": 1})
    store.hincrby(keys.campaign_counts("dl"), "queued", 1)
    policy = StreamPolicy(maxlen=10_000, final_ttl=3600)
    record(store, [Event(message_id, "dl", State.DEAD, "dl-b0", to, reason="gave up")], policy)
    at = int(time.time() * 1000)
    letter = {"batch": orjson.dumps(batch.to_dict()), "reason": "gave up", "at": at}
    store.hset(keys.deadletter(message_id), mapping={**letter, "campaign": "dl"})
    store.zadd(keys.DEADLETTERS, {message_id: at})


def test_dead_letters_unknown_outcomes_optouts_and_keys_pages(
    r: redis.Redis, redis_url: str, browser_page: tuple[Page, str]
) -> None:
    page, key = browser_page
    dead_letter(r, "dl-1", "66810000001")
    dead_letter(r, "dl-2", "66810000002")
    destinations = tuple(Destination(f"u-{i}", f"6681000010{i}") for i in range(3))
    held = Batch("u", 0, "u-b0", "", "Hi", destinations, 1)
    r.sadd(keys.CAMPAIGNS, "u")
    r.hset(keys.campaign_meta("u"), mapping={"created": 2, "messages": 3, "imported": 2})
    r.hset(keys.campaign_counts("u"), "queued", 3)
    r.hset(keys.campaign_unknown("u"), mapping=entries(held, held.destinations, "timed out", 1))
    events = [Event(d.message_id, "u", State.UNKNOWN, to=d.to) for d in destinations]
    record(r, events, StreamPolicy())
    settings = settings_for(redis_url, "http://127.0.0.1:9")
    with serving(settings, page) as url:
        log_in(page, url, key)

        page.get_by_test_id("nav-dead").click()
        expect(page.get_by_test_id("dead-row")).to_have_count(2)
        page.get_by_test_id("dead-row").filter(has_text="dl-1").get_by_test_id(
            "dead-replay"
        ).click()
        expect(page.get_by_test_id("dead-result")).to_have_text("replayed 1")
        expect(page.get_by_test_id("dead-row")).to_have_count(1)
        page.get_by_test_id("dead-replay-all").click()
        expect(page.get_by_test_id("dead-result")).to_have_text("replayed 1")
        expect(page.get_by_test_id("dead-row")).to_have_count(0)
        assert control.deadletters(r) == []
        assert Counter(control.status(r, "dl")["counts"]) == {"queued": 2}

        page.get_by_test_id("nav-unknown").click()
        expect(page.get_by_test_id("unknown-row")).to_have_count(3, timeout=10_000)
        page.get_by_label("select u-0").check()
        page.get_by_test_id("unknown-drop").click()
        expect(page.get_by_test_id("unknown-result")).to_have_text("dropped 1")
        expect(page.get_by_test_id("unknown-row")).to_have_count(2)
        page.get_by_label("select u-1").check()
        page.get_by_test_id("unknown-resend").click()
        expect(page.get_by_test_id("unknown-result")).to_have_text("resent 1")
        expect(page.get_by_test_id("unknown-row")).to_have_count(1)

        page.get_by_test_id("nav-optouts").click()
        page.get_by_test_id("optout-numbers").fill("0812345678, +66 81 234 5679")
        page.get_by_test_id("optout-reason").fill("asked by phone")
        page.get_by_test_id("optout-add").click()
        expect(page.get_by_test_id("optout-result")).to_have_text(
            "added 2 of 2: 66812345678 66812345679"
        )
        assert [e.number for e in optout.check(r, ["66812345678"]) if e] == ["66812345678"]
        page.get_by_test_id("optout-q").fill("0812345678")
        page.get_by_test_id("optout-q").press("Enter")
        expect(page.get_by_test_id("optout-row")).to_have_count(1)
        expect(page.get_by_test_id("optout-row")).to_contain_text("asked by phone")
        page.get_by_test_id("optout-remove").click()
        expect(page.get_by_test_id("optout-result")).to_contain_text("removed 1")
        expect(page.get_by_test_id("optout-row")).to_have_count(0)
        assert optout.check(r, ["66812345678", "66812345679"])[0] is None
        page.get_by_test_id("optout-q").fill("")
        page.get_by_test_id("optout-q").press("Enter")
        expect(page.get_by_test_id("optout-row")).to_have_count(1)  # ...679 stays

        page.get_by_test_id("nav-keys").click()
        expect(page.get_by_test_id("key-row")).to_have_count(1)
        page.get_by_test_id("key-name").fill("shop")
        page.get_by_test_id("key-scope").select_option("send")
        page.get_by_test_id("key-create").click()
        new_key = page.get_by_test_id("new-key")
        expect(new_key).to_have_text(re.compile(r"^sk_"))
        created = new_key.inner_text()
        assert auth.caller(r.hget(keys.API_KEYS, auth.digest(created))) == auth.Caller(
            "shop", "send"
        )
        expect(page.get_by_test_id("key-row")).to_have_count(2)
        page.get_by_test_id("nav-dead").click()
        page.get_by_test_id("nav-keys").click()
        expect(page.get_by_test_id("new-key")).to_be_hidden()  # shown once
        page.get_by_test_id("key-row").filter(has_text="shop").get_by_test_id("key-revoke").click()
        expect(page.get_by_test_id("key-row")).to_have_count(1)
        assert r.hget(keys.API_KEYS, auth.digest(created)) is None

    actions = [(e["who"], e["action"]) for e in audit.read(r)]
    for action in AUDITED:
        assert ("key:operator", action) in actions, (action, actions)
