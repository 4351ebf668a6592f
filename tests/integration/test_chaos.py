"""The chaos scenarios of tests/chaos.py, small enough for CI (bench/chaos.py runs them at
40,000 recipients).  Each counts real sends at a gateway that accepts a reused messageId:
no message twice, none lost, every campaign finished."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.chaos import Chaos, Result

pytestmark = pytest.mark.integration


@pytest.fixture
def chaos(r: redis.Redis, redis_url: str, tmp_path: Path) -> Chaos:
    return Chaos(
        redis_url, tmp_path, processes=2, threads=4, batch_size=50, latency_ms=300, timeout_s=150
    )


def check(result: Result) -> None:
    print(result)
    assert result.double == 0, result
    assert result.lost == 0, result
    assert result.details.get("extra", 0) == 0, result


@pytest.mark.slow
@pytest.mark.unmeasured
def test_repeated_sigkill_under_latency(chaos: Chaos) -> None:
    check(chaos.kill_workers(3000, kills=3))


def test_redis_killed_and_restarted(chaos: Chaos) -> None:
    check(chaos.redis_restart(3000))


def test_wrong_url_pauses_then_resume_sends_everything(chaos: Chaos) -> None:
    result = chaos.wrong_url(1000)
    check(result)
    assert result.note.startswith("0 sent"), result  # nothing burnt while it was wrong


def test_concurrent_import_resume_and_replay(chaos: Chaos) -> None:
    check(chaos.concurrent_ops(1500, dead=100))


def test_sigterm_to_the_process_group(chaos: Chaos) -> None:
    result = chaos.sigterm_group(2000)
    check(result)
    stopped = float(result.note.split()[2])
    assert stopped < 10 + 5, result  # SMS_SHUTDOWN_TIMEOUT_MS=10000, plus the exit margin


@pytest.mark.slow
@pytest.mark.unmeasured
def test_failover_from_ants_to_smsc_half_way_and_back(chaos: Chaos) -> None:
    result = chaos.failover(2000)
    check(result)
    d = result.details
    assert d["smsc"] > 0 and d["ants"] >= 1000, result  # half at ANTS, then SMSC took over
    assert d["had"] > 0, result  # taken, then timed out: found at ANTS, not sent again
    assert d["down_s"] is not None and d["restored"], result  # marked down, then probed back
    assert d["failback_at_ants"] > 0, result  # healed: ANTS takes traffic again
