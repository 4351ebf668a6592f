"""`smsdispatch demo --provider NAME`: the whole demo through each gateway's sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import write_csv

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("provider", ["ants", "smsmanager", "smsc"])
def test_demo_through_each_provider(
    r: redis.Redis, redis_url: str, tmp_path: Path, provider: str
) -> None:
    csv = write_csv(tmp_path / "demo.csv", 300, bad=2)
    env = {**os.environ, "REDIS_URL": redis_url, "COLUMNS": "120"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher.cli",
            "demo",
            "--provider",
            provider,
            "--file",
            str(csv),
            "--text",
            "Hi {name}",
            "--processes",
            "1",
            "--threads",
            "4",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(rf"accepted by {provider}\s*│\s*300 ", done.stderr), done.stderr[-2000:]
    assert re.search(r"invalid rows\s*│\s*2 ", done.stderr), done.stderr[-2000:]


def test_demo_names_a_provider_without_a_sandbox(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "demo", "--provider", "nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "no sandbox for 'nope'" in done.stderr
    assert "Traceback" not in done.stderr
