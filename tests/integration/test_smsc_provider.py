"""SMSC.ru end to end: real Redis, real dramatiq workers with SMS_PROVIDER=smsc, the SMSC
sandbox over HTTP, counting every send (a reused id is taken and counted again, as SMSC.ru
does).

SMSC names a message by its request's id and its number, so the oracle counts sends under
`{id}:{number}`: the keys expected are those of the accepted messageIds (their bulkId and
number, from the outcome stream), one each.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from core import keys
from dispatcher import api
from dispatcher.stack import Stack
from providers.smsc import provider_key, smsc_id
from tests.chaos import asked_in
from tests.integration.conftest import (
    assert_numbers_sent_once,
    csv_numbers,
    sandbox_set,
    settings_for,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.integration

WORKER_ENV = {
    "SMS_PROVIDER": "smsc",
    "SMS_HTTP_TIMEOUT": "1.5",
    "SMS_HEARTBEAT_TIMEOUT_MS": "3000",
    "SMS_MAX_ATTEMPTS": "30",
}


def accepted_keys(client: redis.Redis, campaign: str) -> dict[str, str]:
    """messageId -> the SMSC message (`{id}:{number}`) it was accepted as."""
    out: dict[str, str] = {}
    for _, fields in client.xrange(keys.OUTCOMES):
        if fields[b"campaign"].decode() == campaign and fields[b"state"] == b"accepted":
            sid = smsc_id(fields[b"bulkId"].decode())
            out[fields[b"messageId"].decode()] = provider_key(sid, fields[b"to"].decode())
    return out


def import_smsc(
    redis_url: str, base: str, tmp_path: Path, campaign: str, n: int, batch_size: int = 50
) -> None:
    settings = settings_for(redis_url, base, batch_size=batch_size)
    report = api.import_csv(
        write_csv(tmp_path / f"{campaign}.csv", n),
        campaign=campaign,
        text="Hi {name}",
        settings=settings,
        provider="smsc",
    )
    assert report.valid == n


def test_campaign_sent_once_with_fewer_than_five_concurrent_requests(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    config = {"faults": {"latency_ms": 150, "jitter_ms": 100}}
    base = stack.sandbox(provider="smsc", SANDBOX_CONFIG=orjson.dumps(config).decode())
    stack.workers(processes=2, threads=8, **WORKER_ENV)
    n = 3000
    import_smsc(redis_url, base, tmp_path, "smsc-e2e", n)

    st = wait_for(r, "smsc-e2e", lambda s: s["done_sending"] >= n, timeout=120)
    assert st["counts"] == {"accepted": n}
    sent = accepted_keys(r, "smsc-e2e")
    assert len(sent) == n and len(set(sent.values())) == n  # one SMSC message per messageId
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    assert set(sb["accepted"]) == set(sent.values())  # and what we recorded is what it took
    print(f"max concurrent requests: {sb['maxConcurrentRequests']}")
    # 16 worker threads, requests of 150-250 ms: they overlap, and never five at once
    # (SMSC.ru: "five or more requests simultaneously" get error 9)
    assert 1 < sb["maxConcurrentRequests"] <= 4, sb["maxConcurrentRequests"]
    assert "ERROR_9" not in sb["statuses"], sb["statuses"]
    assert sb["requests"] == {"/sys/send.php": n // 50}  # one request per batch, no lookups


# SMSC.ru's "minute" (error 9 holds a repeat for it; one mass status request in it) lasts
# WINDOW_S at both ends here: the sandbox's window_s, the workers' SMSC_WINDOW_S
WINDOW_S = 5


@pytest.mark.slow
@pytest.mark.unmeasured
@pytest.mark.parametrize("mode", ["drop", "sleep"])
def test_faults_no_double_sends(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path, mode: str
) -> None:
    """SMSC.ru's limits as the sandbox reads them least favourably (one mass status request
    a minute, shared by lookups; a repeated send within a minute is error 9 even after a
    500): HTTP 500s before anything is taken and a request taken then left unanswered.
    The lookup finds what was taken (with the state it already reached) and nothing is
    sent twice or lost."""
    base = stack.sandbox(provider="smsc")
    # the concurrency cap is lifted: a hung request still counts at the gateway after the
    # worker gave up on it; the unit tests check the cap
    sandbox_set(base, "smsc", {"concurrency": 0, "window_s": WINDOW_S})
    faults = {
        "error_share": 0.3,
        "timeout_every": 2,  # the second request taken: exactly one unknown, one lookup
        "timeout_mode": mode,
        "timeout_sleep_s": 2.0,
        "latency_ms": 20,
    }
    sandbox_set(base, "faults", faults)
    stack.workers(processes=2, threads=8, **WORKER_ENV, SMSC_WINDOW_S=str(WINDOW_S))
    n = 3000
    import_smsc(redis_url, base, tmp_path, "smsc-flt", n, batch_size=1000)

    st = wait_for(r, "smsc-flt", lambda s: s["in_flight"] == 0, timeout=150)
    assert set(st["counts"]) <= {"accepted", "delivered", "undeliverable", "expired"}, st
    assert sum(st["counts"].values()) == n
    sent = accepted_keys(r, "smsc-flt")
    assert len(sent) == n and len(set(sent.values())) == n
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    assert sb["timeouts"]
    # a repeat within the minute was refused (9), and sent again once the minute was over
    assert sb["statuses"].get("ERROR_9", 0) >= 1, sb["statuses"]
    # the gateway took these, then the answer never came: asked about, never sent again
    in_timeouts = set(sb["acceptedInTimeouts"])
    assert in_timeouts and all(sb["seen"][k] == 1 for k in in_timeouts)
    total, had = asked_in(tmp_path / "logs")
    assert sb["requests"].get("/sys/status.php", 0) >= 1
    assert total > 0 and had >= len(in_timeouts), (total, had, len(in_timeouts))


def test_a_batch_larger_than_smsc_takes_per_request_goes_in_several(
    r: redis.Redis, redis_url: str, stack: Stack, tmp_path: Path
) -> None:
    base = stack.sandbox(provider="smsc")
    stack.workers(processes=1, threads=4, **WORKER_ENV)
    n = 3000
    settings = settings_for(redis_url, base, batch_size=2500)  # SMSC: 1,000 numbers a request
    report = api.import_csv(
        write_csv(tmp_path / "big.csv", n),
        campaign="smsc-big",
        text="Hi",
        settings=settings,
        provider="smsc",
    )
    assert report.valid == n
    st = wait_for(r, "smsc-big", lambda s: s["done_sending"] >= n, timeout=60)
    assert st["counts"] == {"accepted": n}
    sb = assert_numbers_sent_once(base, csv_numbers(n))
    assert sb["requests"] == {"/sys/send.php": 4}  # 1000 + 1000 + 500, then 500
