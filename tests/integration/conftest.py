"""Integration fixtures: a real Redis (see tests/conftest.py), a real sandbox and real workers."""

from __future__ import annotations

import csv
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from config.settings import Settings
from dispatcher import control
from dispatcher.stack import (
    COVERAGE_VAR,
    SANDBOX_PASSWORD,
    SANDBOX_USER,
    RedisClusterServers,
    Stack,
)
from tests.chaos import HONEST, sandbox_state
from tests.chaos import sandbox_post as sandbox_set

__all__ = ["HONEST", "sandbox_set", "sandbox_state"]  # the oracle's helpers, for the tests here


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A 3-master Redis Cluster of the wheel's valkey-server on loopback ports, per module."""
    servers = RedisClusterServers(Path(tmp_path_factory.mktemp("cluster"))).start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def rc(cluster: RedisClusterServers) -> Iterator[RedisCluster]:
    """A client of that cluster, every master flushed."""
    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster.nodes])
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def unmeasured(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test marked `unmeasured` starts its processes without coverage (see pyproject)."""
    if request.node.get_closest_marker("unmeasured"):
        monkeypatch.delenv(COVERAGE_VAR, raising=False)


@pytest.fixture
def stack(r: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Child processes (sandbox, workers) on the test Redis; logs under tmp_path/logs."""
    with Stack(redis_url, log_dir=tmp_path / "logs", sandbox_defaults=HONEST) as s:
        yield s


def settings_for(redis_url: str, base_url: str, **kw: Any) -> Settings:
    return Settings(
        redis_url=redis_url,
        ants_base_url=base_url,
        ants_username=SANDBOX_USER,
        ants_password=SANDBOX_PASSWORD,
        **kw,
    )


def sandbox_get(base_url: str, section: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_sandbox/{section}", timeout=30) as resp:
        return orjson.loads(resp.read())


def assert_sent_once(base_url: str, expected: set[str]) -> dict[str, Any]:
    """Each expected messageId reached the gateway exactly once, nothing else did: counted
    by the sandbox with its duplicate-id check off (so a second send would be accepted)."""
    assert sandbox_get(base_url, "settings")["dedupe_ids"] is False, "the oracle must count"
    sb = sandbox_state(base_url, ids=1)
    twice = {m: n for m, n in sb["accepted"].items() if n != 1}
    assert twice == {} and sb["doubleSends"] == 0, (
        f"{len(twice)} sent more than once, e.g. {sorted(twice.items())[:5]}"
    )
    missing, extra = expected - set(sb["accepted"]), set(sb["accepted"]) - expected
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    return sb


def assert_numbers_sent_once(base_url: str, numbers: set[str]) -> dict[str, Any]:
    """For a gateway that names a message `{its request id}:{number}` (SMSC.ru,
    SmsManager): each number of the campaign reached it exactly once, whatever ids our
    requests carried, and no other number did (numbers are unique in a campaign)."""
    assert sandbox_get(base_url, "settings")["dedupe_ids"] is False, "the oracle must count"
    sb = sandbox_state(base_url, ids=1)
    sends: dict[str, int] = {}
    for key, count in sb["accepted"].items():
        number = key.rsplit(":", 1)[1]
        sends[number] = sends.get(number, 0) + count
    twice = {n: c for n, c in sends.items() if c != 1}
    assert twice == {} and sb["doubleSends"] == 0, (
        f"{len(twice)} numbers sent more than once, e.g. {sorted(twice.items())[:5]}"
    )
    missing, extra = numbers - set(sends), set(sends) - numbers
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    return sb


def csv_numbers(n: int, start: int = 0) -> set[str]:
    """The numbers `write_csv` writes, as the gateway sees them (international digits)."""
    return {f"668{i % 10}{i:07d}" for i in range(start, start + n)}


def write_csv(path: Path, n: int, bad: int = 0, start: int = 0) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "name"])
        for i in range(start, start + n):
            w.writerow([f"08{i % 10}{i:07d}", f"n{i}"])
        for i in range(bad):
            w.writerow([f"12{i}", "bad"])
    return path


def wait_for(
    client: redis.Redis,
    campaign: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 120.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = control.status(client, campaign)
        if done(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign} not done in {timeout}s: {st}")


def outcome_states(client: redis.Redis) -> dict[str, list[str]]:
    """messageId -> the states the outcome stream shows for it, in order."""
    out: dict[str, list[str]] = {}
    for _, fields in client.xrange("sms:outcomes"):
        out.setdefault(fields[b"messageId"].decode(), []).append(fields[b"state"].decode())
    return out
