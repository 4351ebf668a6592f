"""The CLI says what is wrong and where, never with a traceback, never with the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import redact_url
from dispatcher import cli

UNREACHABLE = "redis://app:s3cret@127.0.0.1:1/0"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_missing_csv_file_is_named(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
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


def test_an_import_with_redis_down_is_named_too(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("REDIS_URL", UNREACHABLE)
    csv = tmp_path / "c.csv"
    csv.write_text("phone\n0812345678\n")
    code, text = run(capsys, "import", str(csv), "--campaign", "c", "--text", "hi")
    assert code == 2 and "cannot reach Redis" in text and "s3cret" not in text


def test_redact_url() -> None:
    assert redact_url("redis://u:p@h:1/0") == "redis://u:***@h:1/0"
    assert redact_url("redis://:p@h:1") == "redis://:***@h:1"
    assert redact_url("rediss://h:1/0") == "rediss://h:1/0"
