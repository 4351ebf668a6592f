"""Worker metrics over HTTP: dramatiq's Prometheus middleware plus our per-state counters."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
import redis

from dispatcher import api
from dispatcher.stack import Stack, free_port
from tests.integration.conftest import settings_for, wait_for, write_csv

pytestmark = pytest.mark.integration


def scrape(port: int, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_workers_expose_prometheus_metrics(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    port = free_port()
    stack.workers(
        processes=2, threads=2, SMS_METRICS_PORT=str(port), dramatiq_prom_db=str(tmp_path / "prom")
    )
    settings = settings_for(redis_url, base, batch_size=100)
    api.import_csv(
        write_csv(tmp_path / "c.csv", 500), campaign="m", text="Hi {name}", settings=settings
    )
    wait_for(r, "m", lambda s: s["done_sending"] >= 500)
    text = scrape(port)
    assert 'sms_destinations_total{state="accepted"} 500.0' in text
    assert "sms_batch_seconds_count 5.0" in text
    assert "dramatiq_messages_total" in text


def test_deferrals_by_reason_and_the_api_gauges(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    """Workers count what a limit put off, by reason; the API's /metrics shows queue depth,
    scheduled batches, provider health, messages by state and report latency."""
    from datetime import UTC, datetime, timedelta

    from config.settings import Settings
    from dispatcher.http import auth
    from tests.http_kit import Api, api_server

    base = stack.sandbox()
    port = free_port()
    stack.workers(
        processes=1, threads=2, SMS_METRICS_PORT=str(port), dramatiq_prom_db=str(tmp_path / "prom")
    )
    settings = settings_for(redis_url, base, batch_size=100)
    api.import_csv(
        write_csv(tmp_path / "c.csv", 300), campaign="d", text="Hi {name}", settings=settings
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    api.import_csv(
        write_csv(tmp_path / "t.csv", 250, start=1000),
        campaign="t",
        text="Hi",
        settings=settings,
        send_at=tomorrow,
    )
    later = datetime.now(UTC) + timedelta(hours=9)  # Bangkok (UTC+7) time in two hours
    shut = f"{later:%H}:00-{later + timedelta(hours=1):%H}:00"
    api.import_csv(
        write_csv(tmp_path / "w.csv", 40, start=2000),
        campaign="w",
        text="Hi",
        settings=settings,
        window=shut,
    )  # closed now in Bangkok (UTC+7)
    wait_for(r, "d", lambda s: s["done_sending"] >= 300)
    wait_for(r, "w", lambda s: s["counts"].get("deferred", 0) == 40)
    kind = 'sms_deferrals_total{reason="window",state="deferred"} 40.0'
    assert kind in scrape(port)
    with api_server(Settings(redis_url=redis_url)) as url:
        text = Api(url, auth.create(r, "prom", "read")).call("GET", "/metrics").body.decode()
    assert "sms_scheduled_batches 4.0" in text  # t's three, and w's one waiting for its window
    assert 'sms_campaign_messages{campaign="d",state="accepted"} 300.0' in text
    assert 'sms_provider_down{provider="ants"} 0.0' in text
    assert 'sms_queue_depth{kind="ready",queue="campaign"}' in text
    assert "sms_dlr_latency_seconds_bucket" in text
