"""Which Redis a command uses (dispatcher.embedded): REDIS_URL, else the embedded server
running for this folder, else one started for the block (worker, demo), else a refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

import dispatcher
from core.errors import ConfigError
from dispatcher import embedded


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SMS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_redis_url_wins_and_is_named_with_its_origin(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:6379/3")
    with embedded.redis_url(start=True) as url:
        assert url == "redis://:secret@127.0.0.1:6379/3"
    said = capsys.readouterr().err
    assert "REDIS_URL from" in said and "secret" not in said
    assert not here.exists()  # nothing started


def test_a_started_server_is_shared_by_later_commands_then_gone(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"), embedded.redis_url():
        pass
    with embedded.redis_url(start=True) as url:
        assert redis.Redis.from_url(url).ping()
        assert embedded.url_file().read_text() == url
        assert os.environ["REDIS_URL"] == url  # what the processes it launches get
        del os.environ["REDIS_URL"]  # as another command started from this folder sees it
        with embedded.redis_url() as found:
            assert found == url
        assert "embedded, found in" in capsys.readouterr().err
    assert not embedded.url_file().exists()
    assert embedded._running() == ""
    with pytest.raises(ConfigError, match="REDIS_URL"), embedded.redis_url():
        pass


def test_a_stale_url_file_names_no_server(here: Path) -> None:
    here.mkdir(parents=True)
    embedded.url_file().write_text("redis://127.0.0.1:1/0")  # nothing listens there
    assert embedded._running() == ""


def test_the_package_loads_the_api_on_first_use() -> None:
    from dispatcher import api

    assert dispatcher.enqueue_campaign is api.enqueue_campaign
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = dispatcher.nope  # type: ignore[attr-defined]
