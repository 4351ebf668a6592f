"""Crash safety and retries end to end: real Redis, real dramatiq workers, the sandbox over HTTP.

The sandbox runs with its duplicate-messageId check off (it accepts and counts a
second send, as SMSC.ru and SmsManager would), so every test ends by counting real
sends: each valid messageId reached the gateway exactly once; and nothing in
flight, the dramatiq queues (and their delay queues, ack sets and dead-letter
queues) empty, and the outcome stream consistent with the stored states and counters.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from core import keys, ledger, optout
from core.outcomes import State, rank
from dispatcher import api, cli, control
from dispatcher.numbers import normalise
from dispatcher.stack import Stack
from tests.chaos import expected_ids, worker_children
from tests.integration.conftest import (
    assert_sent_once,
    outcome_states,
    sandbox_set,
    sandbox_state,
    settings_for,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration

WORKER_ENV = {
    "SMS_HTTP_TIMEOUT": "1.5",
    "SMS_HEARTBEAT_TIMEOUT_MS": "3000",
    "SMS_MAX_ATTEMPTS": "30",
}
HEARTBEATS = b"dramatiq:__heartbeats__"
SIZE: dict[bytes, Callable[[redis.Redis, bytes], int]] = {
    b"list": lambda c, k: c.llen(k),
    b"zset": lambda c, k: c.zcard(k),
    b"hash": lambda c, k: c.hlen(k),
    b"set": lambda c, k: c.scard(k),
}


# ---------------------------------------------------------------- shared checks


def broker_leftovers(client: redis.Redis) -> dict[str, int]:
    """Non-empty dramatiq keys: queues, delay queues, message hashes, ack sets, XQs."""
    out = {}
    for key in client.scan_iter("dramatiq:*"):
        if key == HEARTBEATS:
            continue
        size = SIZE.get(client.type(key), lambda c, k: 1)(client, key)
        if size:
            out[key.decode()] = size
    return out


def wait_drained(client: redis.Redis, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := broker_leftovers(client)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}, f"dramatiq keys not empty: {left}"


def assert_no_worker_errors(tmp_path: Path) -> None:
    """No message failed inside an actor (dramatiq would retry it only after 15 s+)."""
    for log in (tmp_path / "logs").glob("workers-*.log"):
        text = log.read_text(errors="replace")
        assert "Failed to process message" not in text, log
        assert "Unexpected failure" not in text, log


def assert_stream_consistent(client: redis.Redis, campaign: str) -> dict[str, list[str]]:
    """Per message: ranks never go back, one forward move into accepted at most, the last
    event is the stored state; the campaign counters are the stored states counted."""
    states = {m: s for m, s in outcome_states(client).items() if m.startswith(campaign + "-")}
    stored = dict(zip(states, ledger.states(client, list(states)), strict=True))
    ranks_of = stream_ranks(client)
    for mid, seq in states.items():
        ranks = ranks_of[mid]
        assert ranks == sorted(ranks), (mid, seq)
        assert seq.count("accepted") <= 1, (mid, seq)
        assert seq[-1] == stored[mid], (mid, seq, stored[mid])
    counts = {k.decode(): int(v) for k, v in client.hgetall(keys.campaign_counts(campaign)).items()}
    assert {k: v for k, v in counts.items() if v} == dict(Counter(stored.values()))
    return states


def stream_ranks(client: redis.Redis) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for _, fields in client.xrange(keys.OUTCOMES):
        out.setdefault(fields[b"messageId"].decode(), []).append(int(fields[b"rank"]))
    return out


def assert_finished(client: redis.Redis, campaign: str, n: int) -> dict[str, Any]:
    st = control.status(client, campaign)
    assert st["in_flight"] == 0 and st["parked_batches"] == 0 and not st["paused"]
    assert st["done_sending"] == n
    wait_drained(client)
    return st


def import_campaign(
    redis_url: str,
    base: str,
    tmp_path: Path,
    campaign: str,
    n: int,
    batch_size: int = 100,
    **kw: Any,
) -> set[str]:
    settings = settings_for(redis_url, base, batch_size=batch_size, **kw)
    report = api.import_csv(
        write_csv(tmp_path / f"{campaign}.csv", n),
        campaign=campaign,
        text="Hi {name}",
        settings=settings,
    )
    assert report.valid == n
    return expected_ids(campaign, n)


# ---------------------------------------------------------------- (a) faults


@pytest.mark.slow
@pytest.mark.unmeasured
@pytest.mark.parametrize("mode", ["sleep", "drop"])
def test_faults_every_message_accepted_once(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, mode: str
) -> None:
    base = stack.sandbox()
    sandbox_set(
        base,
        "faults",
        {
            "error_share": 0.3,
            "timeout_every": 20,
            "timeout_mode": mode,
            "timeout_sleep_s": 2.5,
            "throttle_every": 25,
            "throttle_burst": 3,
            "retry_after_s": 1,
        },
    )
    stack.workers(processes=2, threads=8, **WORKER_ENV)
    n = 6000
    expected = import_campaign(redis_url, base, tmp_path, "flt", n, batch_size=50)

    st = wait_for(r, "flt", lambda s: s["in_flight"] == 0, timeout=90)
    assert st["counts"] == {"accepted": n}
    assert_finished(r, "flt", n)
    sb = assert_sent_once(base, expected)
    assert sb["http"]["500"] > 0 and sb["http"]["429"] > 0 and sb["timeouts"]
    # the gateway took these, then the answer never came: asked about, never sent again
    in_timeouts = set(sb["acceptedInTimeouts"])
    assert in_timeouts and all(sb["seen"][m] == 1 for m in in_timeouts)
    assert "REJECTED_DUPLICATE_MESSAGE_ID" not in sb["statuses"]
    states = assert_stream_consistent(r, "flt")
    assert all(seq[-1] == "accepted" for seq in states.values())
    assert any("deferred" in seq for seq in states.values())  # the 429s
    assert any("retrying" in seq for seq in states.values())  # 500s past the quick retries
    assert_no_worker_errors(tmp_path)


# ---------------------------------------------------------------- (b) a worker SIGKILLed


def ack_sets(client: redis.Redis) -> dict[bytes, int]:
    return {k: client.scard(k) for k in client.scan_iter("dramatiq:__acks__.*")}


def test_sigkilled_worker_batches_come_back(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    sandbox_set(base, "faults", {"latency_ms": 150})
    master = stack.workers(processes=2, threads=4, **WORKER_ENV)
    n = 6000
    expected = import_campaign(redis_url, base, tmp_path, "kil", n, batch_size=50)
    wait_for(r, "kil", lambda s: s["counts"].get("accepted", 0) >= n // 4, timeout=60)

    victim = worker_children(master.pid)[0]
    held = {k for k, size in ack_sets(r).items() if size}
    assert held  # batches fetched and not acked: in flight or prefetched
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    master.wait(30)  # dramatiq's master stops the other worker and exits: nothing respawns
    stack.workers(processes=2, threads=4, **WORKER_ENV)
    back = _wait_requeued(r, held, killed_at)
    print(f"the killed worker's unacked batches were back in {back:.2f}s")

    wait_for(r, "kil", lambda s: s["in_flight"] == 0, timeout=90)
    assert_finished(r, "kil", n)
    assert_sent_once(base, expected)
    assert_stream_consistent(r, "kil")
    assert back < 3.0 + 5.0, f"the killed worker's batches took {back:.1f}s to come back"
    assert_no_worker_errors(tmp_path)


def _wait_requeued(client: redis.Redis, held: set[bytes], since: float) -> float:
    """Seconds until every ack set that existed at the kill is gone (requeued or acked)."""
    deadline = since + 30
    while time.monotonic() < deadline:
        if not any(client.scard(k) for k in held):
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"unacked messages never came back: {ack_sets(client)}")


# ---------------------------------------------------------------- (c) out of credit


def test_out_of_credit_pauses_then_resume_finishes(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    credit = 1500
    sandbox_set(base, "balance", {"set": credit})
    stack.workers(processes=2, threads=4, **WORKER_ENV)
    n = 4000
    expected = import_campaign(redis_url, base, tmp_path, "cr", n)

    st = wait_for(r, "cr", lambda s: bool(s["paused"]) and _settled(s, n), timeout=60)
    wait_drained(r)
    st = control.status(r, "cr")
    assert "12" in st["paused"] and "NOT_ENOUGH_CREDITS" in st["paused"]
    assert st["counts"] == {"accepted": credit, "paused": n - credit}
    assert st["parked_batches"] > 0 and st["in_flight"] == n - credit
    attempts = {e.get(b"attempt") for _, e in r.xrange(keys.OUTCOMES)}
    assert attempts == {b"1"}  # no retry burned on the pause

    sandbox_set(base, "balance", {"add": n})
    settings = settings_for(redis_url, base)
    assert control.resume(r, api.enqueuer(settings), "cr") == st["parked_batches"]
    wait_for(r, "cr", lambda s: s["in_flight"] == 0, timeout=60)
    assert control.status(r, "cr")["counts"] == {"accepted": n}
    assert_finished(r, "cr", n)
    assert_sent_once(base, expected)
    assert_stream_consistent(r, "cr")
    assert_no_worker_errors(tmp_path)


def _settled(st: dict[str, Any], n: int) -> bool:
    counts = st["counts"]
    return counts.get("accepted", 0) + counts.get("paused", 0) == n


# ---------------------------------------------------------------- (d) permanent errors


def test_permanent_errors_not_retried_and_suppressed(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox()
    n = 1000
    path = write_csv(tmp_path / "perm.csv", n)
    rows = path.read_text().splitlines()[1:]
    numbers = [normalise(row.split(",")[0], "TH") for row in rows]
    black = {numbers[i] for i in range(0, n, 97)}
    bad_prefix = numbers[5][:6]  # a whole block of numbers
    bad = {num for num in numbers if num.startswith(bad_prefix)}
    sandbox_set(base, "settings", {"blacklist": sorted(black), "bad_prefixes": [bad_prefix]})
    stack.workers(processes=1, threads=4, **WORKER_ENV)
    settings = settings_for(redis_url, base, batch_size=100)
    api.import_csv(path, campaign="prm", text="Hi {name}", settings=settings)

    wait_for(r, "prm", lambda s: s["in_flight"] == 0, timeout=60)
    st = assert_finished(r, "prm", n)
    failed = black | bad
    assert st["counts"] == {"accepted": n - len(failed), "failed": len(failed)}
    line_of = {num: line for line, num in enumerate(numbers, start=2)}
    failed_ids = {f"prm-{line_of[num]}" for num in failed}
    sb = assert_sent_once(base, expected_ids("prm", n) - failed_ids)
    assert all(sb["seen"][m] == 1 for m in failed_ids)  # each refused once, never retried
    learned = {e.number: e for e in optout.listing(r)}
    assert set(learned) == failed
    assert all(e.source == optout.LEARNED and e.expires > time.time() for e in learned.values())
    assert {e.reason.split()[2] for e in learned.values()} == {
        "REJECTED_DESTINATION",
        "REJECTED_PREFIX_MISSING",
    }
    assert {e["error_name"] or e["status"] for e in st["top_errors"]} >= {
        "REJECTED_DESTINATION",
        "REJECTED_PREFIX_MISSING",
    }
    states = assert_stream_consistent(r, "prm")
    assert all(states[m] == ["failed"] for m in failed_ids)

    sandbox_set(base, "settings", {"blacklist": [], "bad_prefixes": []})
    report = api.import_csv(path, campaign="prm2", text="Hi again {name}", settings=settings)
    assert (report.valid, report.opted_out) == (n - len(failed), len(failed))  # not enqueued
    wait_for(r, "prm2", lambda s: s["in_flight"] == 0, timeout=60)
    st2 = assert_finished(r, "prm2", n - len(failed))
    assert st2["counts"] == {"accepted": n - len(failed)} and st2["opted_out"] == len(failed)
    sb2 = sandbox_state(base, ids=1)
    assert not any(m.replace("prm-", "prm2-") in sb2["seen"] for m in failed_ids)
    assert sb2["acceptedMoreThanOnce"] == 0
    assert_no_worker_errors(tmp_path)


# ---------------------------------------------------------------- (e) dead letters


def test_exhausted_retries_dead_letters_then_replay(
    r: redis.Redis,
    redis_url: str,
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = stack.sandbox()
    sandbox_set(base, "faults", {"error_share": 1.0})
    stack.workers(processes=1, threads=4, **{**WORKER_ENV, "SMS_MAX_ATTEMPTS": "2"})
    n = 60
    expected = import_campaign(redis_url, base, tmp_path, "dl", n, batch_size=20)

    st = wait_for(r, "dl", lambda s: s["in_flight"] == 0, timeout=60)
    assert st["counts"] == {"dead": n}
    wait_drained(r)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ANTS_BASE_URL", base)
    capsys.readouterr()
    assert cli.main(["deadletters", "list", "--campaign", "dl"]) == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["messageId"] for row in rows} == expected
    assert all(
        row["reason"].startswith("gave up after 2 attempts: GatewayServerError: HTTP 500")
        for row in rows
    )
    assert sandbox_state(base)["acceptedMessages"] == 0

    sandbox_set(base, "faults", {"error_share": 0.0})
    assert cli.main(["deadletters", "replay", "--campaign", "dl"]) == 0
    wait_for(r, "dl", lambda s: s["counts"] == {"accepted": n}, timeout=60)
    assert_finished(r, "dl", n)
    assert_sent_once(base, expected)
    assert r.zcard(keys.DEADLETTERS) == 0
    states = assert_stream_consistent_replayed(r, "dl")
    assert all(seq[-3:] == ["dead", "queued", "accepted"] for seq in states.values())
    assert_no_worker_errors(tmp_path)


def assert_stream_consistent_replayed(client: redis.Redis, campaign: str) -> dict[str, list[str]]:
    """As `assert_stream_consistent`, with the one backward move there is: dead -> queued."""
    states = {m: s for m, s in outcome_states(client).items() if m.startswith(campaign + "-")}
    for mid, seq in states.items():
        cut = max(i for i, s in enumerate(seq) if s == "queued") if "queued" in seq else 0
        for part in (seq[:cut], seq[cut:]):
            ranks = [rank(State(s)) for s in part]
            assert ranks == sorted(ranks), (mid, seq)
        assert seq[-1] == ledger.state(client, mid)
        assert seq.count("accepted") <= 1
    return states
