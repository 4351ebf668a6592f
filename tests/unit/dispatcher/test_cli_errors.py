"""The CLI says what is wrong and where, never with a traceback, never with the password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import redact_url
from dispatcher import cli

UNREACHABLE = "redis://app:s3cret@127.0.0.1:1/0"
ROOT = Path(__file__).parents[3]
CREDENTIALS = ("ANTS_USERNAME", "ANTS_PASSWORD", "ANTS_API_KEY", "SMSC_LOGIN", "SMSC_PASSWORD")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_missing_csv_file_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
    monkeypatch.setenv("ANTS_API_KEY", "k")
    code, text = run(capsys, "import", "/no/such/file.csv", "--campaign", "c", "--text", "hi")
    assert code == 2 and "/no/such/file.csv" in text and "No such file" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("argv", [["status", "c"], ["resume", "c"], ["deadletters", "list"]])
def test_an_unreachable_redis_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
    code, text = run(capsys, *argv)
    assert code == 2 and "cannot reach Redis at redis://app:***@127.0.0.1:1/0" in text
    assert "s3cret" not in text and "Traceback" not in text


def test_an_import_with_redis_down_is_named_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
    monkeypatch.setenv("ANTS_API_KEY", "k")
    csv = tmp_path / "c.csv"
    csv.write_text("phone\n0812345678\n")
    code, text = run(capsys, "import", str(csv), "--campaign", "c", "--text", "hi")
    assert code == 2 and "cannot reach Redis" in text and "s3cret" not in text


def test_redact_url() -> None:
    assert redact_url("redis://u:p@h:1/0") == "redis://u:***@h:1/0"
    assert redact_url("redis://:p@h:1") == "redis://:***@h:1"
    assert redact_url("rediss://h:1/0") == "rediss://h:1/0"


def test_without_redis_url_a_command_refuses_and_starts_no_redis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No Redis that no other process sees: without REDIS_URL and without an embedded server
    running for this folder, an import names REDIS_URL instead of importing into its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("SMS_STATE_DIR", raising=False)
    monkeypatch.setenv("ANTS_API_KEY", "k")
    (tmp_path / "c.csv").write_text("phone\n0812345678\n")
    for argv in (["import", "c.csv", "--campaign", "c", "--text", "hi"], ["status", "c"]):
        code, text = run(capsys, *argv)
        assert code == 2 and "REDIS_URL: not set" in text and "smsdispatch worker" in text
    assert not (tmp_path / ".smsdispatch").exists()  # no embedded server was started


def test_import_refuses_a_provider_without_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
    monkeypatch.setenv("SMS_ROUTES", "*=ants,smsc")
    monkeypatch.setenv("ANTS_API_KEY", "k")
    csv = tmp_path / "c.csv"
    csv.write_text("phone\n0812345678\n")
    code, text = run(capsys, "import", str(csv), "--campaign", "c", "--text", "hi")
    assert code == 2 and "SMSC_LOGIN and SMSC_PASSWORD: not set, but SMS_ROUTES names smsc" in text
    monkeypatch.delenv("SMS_ROUTES")
    code, text = run(
        capsys, "import", str(csv), "--campaign", "c", "--text", "hi", "--provider", "smsc"
    )
    assert code == 2 and "--provider names smsc" in text


@pytest.mark.parametrize("command", ["api", "webhook", "worker"])
def test_servers_and_workers_refuse_a_route_without_credentials(
    command: str, tmp_path: Path
) -> None:
    """They exit at once, naming the variables (before the fix they served, or started
    workers that retried the campaign forever)."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env |= {
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": UNREACHABLE,
        "SMS_ROUTES": "*=ants,smsc",
        "ANTS_API_KEY": "k",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher.cli",
            command,
            *(["--port", "0"] if command != "worker" else []),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "SMSC_LOGIN and SMSC_PASSWORD: not set, but SMS_ROUTES names smsc" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("nice", ["20", "-1", "x"])
def test_worker_nice_is_0_to_19(nice: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Lowering a priority needs no privilege; raising one does: --nice only lowers."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(["worker", "--nice", nice])
    assert stopped.value.code == 2 and "--nice: must be 0 to 19" in capsys.readouterr().err
