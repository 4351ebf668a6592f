"""Fixtures of the limiter tests (tests/unit/test_limits_*.py).

`backend` runs a test twice: on fakeredis with Lua (lupa) and on the real Redis
(the `r` fixture: the database named by SMS_TEST_REDIS_DB, flushed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from core.limits import Limiter

SCRIPT_COMMANDS = {"EVAL", "EVALSHA"}


@pytest.fixture(params=["fakeredis", "redis"])
def backend(request: pytest.FixtureRequest) -> redis.Redis:
    return request.getfixturevalue("fake" if request.param == "fakeredis" else "r")


@pytest.fixture
def limiter(backend: redis.Redis) -> Limiter:
    return Limiter(backend)


@pytest.fixture
def script_calls(backend: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every EVAL / EVALSHA the client sends from now on (redis-py routes both through
    `execute_command`; counting there needs no MONITOR)."""
    calls: list[str] = []
    original: Callable[..., Any] = backend.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        if str(args[0]).upper() in SCRIPT_COMMANDS:
            calls.append(str(args[0]).upper())
        return original(*args, **options)

    monkeypatch.setattr(backend, "execute_command", counting)
    return calls
