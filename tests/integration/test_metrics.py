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


def test_workers_expose_prometheus_metrics(r: redis.Redis, redis_url: str, stack: Stack,
                                           tmp_path: Path) -> None:  # fmt: skip
    base = stack.sandbox()
    port = free_port()
    stack.workers(processes=2, threads=2, SMS_METRICS_PORT=str(port),
                  dramatiq_prom_db=str(tmp_path / "prom"))  # fmt: skip
    settings = settings_for(redis_url, base, batch_size=100)
    api.import_csv(write_csv(tmp_path / "c.csv", 500), campaign="m", text="Hi {name}",
                   settings=settings)  # fmt: skip
    wait_for(r, "m", lambda s: s["done_sending"] >= 500)
    text = scrape(port)
    assert 'sms_destinations_total{state="accepted"} 500.0' in text
    assert "sms_batch_seconds_count 5.0" in text
    assert "dramatiq_messages_total" in text
