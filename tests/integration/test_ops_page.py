"""The live operations page in a real browser: Playwright driving Debian's Chromium.

A campaign's progress bar reaches 100% with no reload (server-sent events); another
campaign is paused from its page, and the sandbox then receives nothing more of it.
SMS_OPS_SCREENSHOTS=DIR keeps a screenshot of the list (README's: SMS_OPS_SCREENSHOTS=docs)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import redis
from playwright.sync_api import expect, sync_playwright

from dispatcher import api, control
from dispatcher.http import auth
from dispatcher.stack import Stack
from tests.http_kit import api_server
from tests.integration.conftest import sandbox_state, settings_for, write_csv

pytestmark = pytest.mark.integration
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def received(base: str) -> int:
    return int(sandbox_state(base)["destinationsReceived"])


def test_progress_live_and_pause_from_the_page(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: `make install` installs it"
    key = auth.create(r, "operator", "admin")
    base = stack.sandbox()
    stack.workers(processes=2, threads=4, SMS_RATE="300/1s")
    settings = settings_for(redis_url, base, batch_size=50)
    with api_server(settings) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url + "/")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="log in").click()
        expect(page.get_by_test_id("live")).to_have_text("live", timeout=10_000)

        api.import_csv(
            write_csv(tmp_path / "a.csv", 300), campaign="small", text="Hi", settings=settings
        )
        api.import_csv(
            write_csv(tmp_path / "b.csv", 4000, start=300),
            campaign="big",
            text="Hi",
            settings=settings,
        )
        small = page.get_by_test_id("progress-small")
        expect(small).to_have_attribute("aria-valuenow", "100", timeout=30_000)
        expect(page.get_by_test_id("row-small")).to_contain_text("done")

        page.get_by_role("link", name="big").click()
        expect(page.get_by_test_id("campaign-state")).to_have_text("sending", timeout=10_000)
        page.get_by_test_id("pause").click()
        expect(page.get_by_test_id("campaign-state")).to_have_text("paused", timeout=5_000)
        expect(page.get_by_test_id("waiting")).to_contain_text("paused by key:operator")
        expect(page.get_by_test_id("audit-row").first).to_contain_text("pause")
        if shots := os.environ.get("SMS_OPS_SCREENSHOTS"):
            page.goto(url + "/#/")
            expect(page.get_by_test_id("row-big")).to_contain_text("paused")
            page.screenshot(path=str(Path(shots) / "ops-page.png"))
        browser.close()

    time.sleep(1.0)
    stopped = received(base)
    time.sleep(2.0)
    assert received(base) == stopped, "the paused campaign kept sending"
    st = control.status(r, "big")
    assert st["state"] == "paused" and st["done_sending"] < 4000
    assert control.status(r, "small")["state"] == "done"
