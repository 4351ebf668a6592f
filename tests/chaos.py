"""Chaos scenarios: real Redis, real dramatiq worker processes, the sandbox over HTTP with its
duplicate-messageId check off (it accepts and counts a second send, as SMSC.ru and
SmsManager would), so every scenario ends by counting what the gateway really received.

Each scenario returns a `Result`: recipients, real sends, double sends, lost messages and
the seconds it took to finish.  `tests/integration/test_chaos.py` runs small versions in
CI; `bench/chaos.py` runs 40,000-recipient versions and prints the table.

    kill_workers      a worker process SIGKILLed again and again under gateway latency
    redis_restart     Redis (AOF, everysec) SIGKILLed a third of the way in, then restarted
    report_burst      thousands of delivery reports POSTed at once, one per request
    wrong_url         a wrong ANTS_BASE_URL (404): pause, fix, resume
    concurrent_ops    two imports, two resumes and two dead-letter replays at once
    sigterm_group     SIGTERM to the workers' whole process group (systemd, honcho)
    failover          routed ANTS then SMSC.ru; ANTS starts failing half-way
    provider_faults   SMSC.ru or SmsManager: 500s, requests taken and then unanswered
    provider_kills    SMSC.ru or SmsManager: a worker process SIGKILLed again and again

The provider scenarios count by number (those gateways name a message `{request id}:
{number}`) and run each sandbox at its least favourable reading of its gateway's
documentation (its defaults: SMSC.ru's one mass status request a minute and four
concurrent requests a login; SmsManager's `/RequestList` listing only queued requests, so
what a timed-out request took cannot be found and is held `unknown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import re
import resource
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis

from config.settings import Settings
from core import keys, ledger
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher import api, control, unknowns
from dispatcher.stack import SANDBOX_PASSWORD, SANDBOX_USER, RedisServer, Stack, child_pids

HONEST = {"dedupe_ids": False}
# issue 19's faults: 20 % HTTP 500 before anything is taken, 10 % taken and then unanswered
# (each hangs past the client's timeout or drops the connection, at even odds)
GATEWAY_FAULTS: dict[str, Any] = {"error_share": 0.2, "timeout_share": 0.1, "timeout_mode": "mixed"}
ASKED = re.compile(r"asked \S+ about (\d+) destinations with an unknown outcome: it has (\d+)")
WORKER_ENV = {
    "SMS_HTTP_TIMEOUT": "2",
    "SMS_HEARTBEAT_TIMEOUT_MS": "3000",
    "SMS_MAX_ATTEMPTS": "30",
    "SMS_SHUTDOWN_TIMEOUT_MS": "10000",
}
HOOK_USER, HOOK_PASSWORD = "hook", "hook-secret"
POLL_S = 0.2


@dataclass
class Result:
    scenario: str
    recipients: int
    sends: int  # destinations the gateway accepted, counting every repeat
    double: int  # sends beyond the first, per messageId
    lost: int  # expected messageIds the gateway never got (or, for reports, never applied)
    seconds: float
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    unknown: int = 0  # messages held `unknown` at the end (taken by the gateway: reached)

    @property
    def ok(self) -> bool:
        return self.double == 0 and self.lost == 0


@dataclass
class Chaos:
    """Where and how big: one Redis database (emptied), a work folder, the workers' shape."""

    redis_url: str
    workdir: Path
    processes: int = 2
    threads: int = 4
    batch_size: int = 100
    latency_ms: int = 400
    timeout_s: float = 300.0
    logs: Path = field(init=False, default=Path())  # the running scenario's log folder

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def stack(self, name: str, redis_url: str | None = None) -> Iterator[Stack]:
        """The processes of one scenario, their logs under workdir/logs/{name}."""
        self.logs = self.workdir / "logs" / name
        with Stack(redis_url or self.redis_url, log_dir=self.logs, sandbox_defaults=HONEST) as s:
            yield s

    def asked(self) -> tuple[int, int]:
        return asked_in(self.logs)

    def sandbox(self, stack: Stack, **config: Any) -> str:
        config = {"faults": {"latency_ms": self.latency_ms}, **config}
        return stack.sandbox(SANDBOX_CONFIG=orjson.dumps(config).decode())

    def workers(self, stack: Stack, **env: str) -> Any:
        return stack.workers(self.processes, self.threads, **{**WORKER_ENV, **env})

    def settings(
        self, base: str, redis_url: str | None = None, batch_size: int | None = None
    ) -> Settings:
        return Settings(
            redis_url=redis_url or self.redis_url,
            ants_base_url=base,
            ants_username=SANDBOX_USER,
            ants_password=SANDBOX_PASSWORD,
            batch_size=batch_size or self.batch_size,
        )

    def csv(self, name: str, n: int, offset: int = 0) -> Path:
        path = self.workdir / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["phone", "name"])
            for i in range(offset, offset + n):
                w.writerow([f"08{i % 10}{i:07d}", f"n{i}"])
        return path

    def import_(
        self, base: str, campaign: str, n: int, redis_url: str | None = None, offset: int = 0
    ) -> set[str]:
        path = self.csv(campaign, n, offset)
        report = api.import_csv(
            path, campaign=campaign, text="Hi {name}", settings=self.settings(base, redis_url)
        )
        assert report.valid == n, report
        return expected_ids(campaign, n)

    def wait(
        self, client: redis.Redis, campaign: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                st = control.status(client, campaign)
                if done(st):
                    return st
            time.sleep(POLL_S)
        raise AssertionError(f"{campaign} not done in {self.timeout_s:.0f}s: {st}")

    def finished(self, client: redis.Redis, campaign: str) -> dict[str, Any]:
        return self.wait(client, campaign, lambda s: s["in_flight"] == 0 and not s["paused"])

    def result(
        self, scenario: str, base: str, expected: set[str], seconds: float, note: str = ""
    ) -> Result:
        sb = sandbox_state(base, ids=1)
        accepted: dict[str, int] = sb["accepted"]
        asked, had = self.asked()
        if asked:
            note = f"{note}; " if note else ""
            note += f"{asked} unknown outcomes asked about, {had} at the gateway"
        return Result(
            scenario,
            len(expected),
            sum(accepted.values()),
            sb["doubleSends"],
            len(expected - set(accepted)),
            round(seconds, 1),
            note,
            {
                "extra": len(set(accepted) - expected),
                "http": sb["http"],
                "asked": asked,
                "had": had,
            },
        )

    # ------------------------------------------------------------ scenarios

    def kill_workers(self, n: int, kills: int) -> Result:
        """A worker process SIGKILLed `kills` times while batches are on their way."""
        client = redis.Redis.from_url(self.redis_url)
        with self.stack("kill") as stack:
            base = self.sandbox(stack)
            master = self.workers(stack)
            expected = self.import_(base, "kill", n)
            started = time.monotonic()
            for k in range(kills):
                target = n * (k + 1) // (kills + 1)
                wait_until(
                    lambda t=target: sandbox_state(base)["acceptedMessages"] >= t, self.timeout_s
                )
                os.kill(worker_children(master.pid)[0], signal.SIGKILL)
                master.wait(60)  # dramatiq's master stops the other worker and exits
                master = self.workers(stack)
                stack.wait_ready(master)  # a master killed before "ready" waits 30 s
            self.finished(client, "kill")
            seconds = time.monotonic() - started
            return self.result(
                f"worker SIGKILLed x{kills}, {self.latency_ms} ms latency", base, expected, seconds
            )

    def redis_restart(self, n: int, down_s: float = 2.0) -> Result:
        """Redis SIGKILLed a third of the way in; `seconds`: from Redis back to the end."""
        server = RedisServer(self.workdir / "redis").start()
        client = redis.Redis.from_url(server.url)
        try:
            with self.stack("restart", server.url) as stack:
                base = self.sandbox(stack)
                self.workers(stack)
                expected = self.import_(base, "restart", n, server.url)
                wait_until(
                    lambda: sandbox_state(base)["acceptedMessages"] >= n // 3, self.timeout_s
                )
                server.kill()
                time.sleep(down_s)
                server.start()
                back = time.monotonic()
                self.finished(client, "restart")
                seconds = time.monotonic() - back
                return self.result(
                    "Redis SIGKILLed and restarted (AOF everysec)",
                    base,
                    expected,
                    seconds,
                    f"down {down_s:.0f} s",
                )
        finally:
            server.stop()

    def wrong_url(self, n: int) -> Result:
        """ANTS_BASE_URL with a wrong path: the campaign pauses, nothing is sent or burnt;
        after the fix and a resume, everything is sent once.  `seconds`: resume to end."""
        client = redis.Redis.from_url(self.redis_url)
        with self.stack("wrongurl") as stack:
            base = self.sandbox(stack)
            master = self.workers(stack, ANTS_BASE_URL=base + "/wrong/path")
            expected = self.import_(base, "wrongurl", n)
            st = self.wait(
                client, "wrongurl", lambda s: bool(s["paused"]) and s["counts"].get("paused") == n
            )
            assert "404" in st["paused"], st
            burnt = sandbox_state(base)["acceptedMessages"]
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(60)
            self.workers(stack)  # fixed
            started = time.monotonic()
            control.resume(client, api.enqueuer(self.settings(base)), "wrongurl")
            self.finished(client, "wrongurl")
            seconds = time.monotonic() - started
            return self.result(
                "wrong URL (404): paused, fixed, resumed",
                base,
                expected,
                seconds,
                f"{burnt} sent before the fix",
            )

    def concurrent_ops(self, n: int, dead: int) -> Result:
        """Two imports of one campaign at once; out of credit, then two resumes at once; a
        second campaign dead-lettered, then two replays at once."""
        client = redis.Redis.from_url(self.redis_url)
        with self.stack("concurrent") as stack:
            base = self.sandbox(stack, credit=float(n // 3))
            self.workers(stack, SMS_MAX_ATTEMPTS="2")
            settings = self.settings(base)
            started = time.monotonic()
            path = self.csv("twice", n)
            both(
                lambda: api.import_csv(path, campaign="twice", text="Hi {name}", settings=settings)
            )
            self.wait(
                client,
                "twice",
                lambda s: (
                    bool(s["paused"])
                    and s["counts"].get("accepted", 0) + s["counts"].get("paused", 0) == n
                ),
            )
            sandbox_post(base, "balance", {"add": float(n)})
            both(lambda: control.resume(client, api.enqueuer(settings), "twice"))
            self.finished(client, "twice")
            sandbox_post(base, "faults", {"error_share": 1.0})
            expected = expected_ids("twice", n) | self.import_(base, "replay", dead)
            self.wait(client, "replay", lambda s: s["counts"].get("dead", 0) == dead)
            sandbox_post(base, "faults", {"error_share": 0.0})
            both(lambda: control.replay(client, api.enqueuer(settings), "replay", 60))
            self.finished(client, "replay")
            seconds = time.monotonic() - started
            counts = control.status(client, "twice")["counts"]
            assert counts == {"accepted": n}, counts  # counted once, though imported twice
            return self.result(
                "two imports, two resumes, two replays at once", base, expected, seconds
            )

    def sigterm_group(self, n: int) -> Result:
        """SIGTERM to the workers' process group mid-campaign: they stop within the shutdown
        timeout; after a restart everything is sent once."""
        client = redis.Redis.from_url(self.redis_url)
        with self.stack("sigterm") as stack:
            base = self.sandbox(stack)
            master = self.workers(stack)
            expected = self.import_(base, "sigterm", n)
            started = time.monotonic()
            wait_until(lambda: sandbox_state(base)["acceptedMessages"] >= n // 3, self.timeout_s)
            signalled = time.monotonic()
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(int(WORKER_ENV["SMS_SHUTDOWN_TIMEOUT_MS"]) / 1000 + 30)
            stopped = time.monotonic() - signalled
            assert not group_alive(master.pid), "a worker process outlived its master"
            self.workers(stack)
            self.finished(client, "sigterm")
            seconds = time.monotonic() - started
            return self.result(
                "SIGTERM to the workers' process group",
                base,
                expected,
                seconds,
                f"stopped in {stopped:.1f} s",
            )

    def failover(self, n: int, error_share: float = 0.5, timeout_share: float = 0.5) -> Result:
        """Routed `*=ants,smsc`; when ANTS has taken half, it starts failing: `error_share`
        of its requests get a 500, and `timeout_share` of the rest are taken and never
        answered (those must be found at ANTS, never sent again through SMSC).  Then ANTS
        is healed and a second campaign of n/4 follows: a probe finds ANTS well again and
        it takes traffic back.  Counted at both sandboxes (ANTS by messageId, SMSC by its
        `{id}:{number}`, mapped back to the recipient by number).  `seconds`: to the end of
        the first campaign; the note gives the times to fail over and back."""
        client = redis.Redis.from_url(self.redis_url)
        with self.stack("failover") as stack:
            ants = self.sandbox(stack)
            smsc = stack.sandbox(
                provider="smsc",
                SANDBOX_CONFIG=orjson.dumps({"faults": {"latency_ms": self.latency_ms}}).decode(),
            )
            # SMSC allows one status request for many messages a minute per login; the
            # workers' lookups there are not what this scenario is about
            sandbox_post(smsc, "smsc", {"mass_status_per_window": 0})
            self.workers(
                stack, SMS_ROUTES="*=ants,smsc", SMS_FAILOVER_PROBE_AFTER=f"{FAILOVER_PROBE_S}s"
            )
            expected = self.import_(ants, "failover", n)
            started = time.monotonic()
            wait_until(lambda: sandbox_state(ants)["acceptedMessages"] >= n // 2, self.timeout_s)
            failing_ms = redis_ms(client)
            failing = {
                "latency_ms": self.latency_ms,
                "error_share": error_share,
                "timeout_share": timeout_share,
                "timeout_sleep_s": 4.0,
            }
            sandbox_post(ants, "faults", failing)
            down = keys.health("ants", "down")
            wait_until(lambda: bool(client.exists(down)), self.timeout_s)
            down_ms = int(client.get(down) or 0)  # (a probe may restore it, for a while)
            self.finished(client, "failover")
            seconds = time.monotonic() - started
            sandbox_post(ants, "faults", {"error_share": 0.0, "timeout_share": 0.0})  # healed
            healed_ms = redis_ms(client)
            time.sleep(FAILOVER_PROBE_S)  # so the next batch may be a probe
            back = n // 4
            expected |= self.import_(ants, "failback", back, offset=FAILBACK_OFFSET)
            self.finished(client, "failback")
            times = {
                "down_s": since(down_ms, failing_ms),
                "first_smsc_s": since(first_accepted_ms(client, "smsc", failing_ms), failing_ms),
                "back_s": since(first_accepted_ms(client, "ants", healed_ms), healed_ms),
                "restored": not client.exists(keys.health("ants", "down")),
            }
            return self.failover_result(ants, smsc, expected, seconds, times)

    def failover_result(
        self, ants: str, smsc: str, expected: set[str], seconds: float, times: dict[str, Any]
    ) -> Result:
        at_ants = self.result(
            "routed ANTS then SMSC.ru, ANTS failing half-way", ants, set(), seconds
        )
        by_number = {number_of(mid): mid for mid in expected}
        at_smsc: dict[str, int] = {}
        for key, count in sandbox_state(smsc, ids=1)["accepted"].items():
            mid = by_number[key.rsplit(":", 1)[1]]
            at_smsc[mid] = at_smsc.get(mid, 0) + count
        ants_seen: dict[str, int] = sandbox_state(ants, ids=1)["accepted"]
        sends = {m: ants_seen.get(m, 0) + at_smsc.get(m, 0) for m in expected | set(at_smsc)}
        failback = {m for m in ants_seen if m.startswith("failback-")}
        note = (
            f"ANTS down {times['down_s']} s after its first failure, SMSC's first send "
            f"{times['first_smsc_s']} s after; healed: ANTS sending again "
            f"{times['back_s']} s after"
        )
        return Result(
            at_ants.scenario,
            len(expected),
            sum(sends.values()),
            sum(c - 1 for c in sends.values() if c > 1),
            sum(1 for m in expected if not sends.get(m)),
            seconds,
            f"{note}; {at_ants.note}".rstrip("; "),
            {
                "extra": len(set(sends) - expected),
                "ants": sum(ants_seen.values()),
                "smsc": sum(at_smsc.values()),
                "failback_at_ants": len(failback),
                "http": at_ants.details["http"],
                "asked": at_ants.details["asked"],
                "had": at_ants.details["had"],
                **times,
            },
        )

    def provider_faults(self, provider: str, n: int, batch_size: int | None = None) -> Result:
        """`provider` (smsc or smsmanager) at its sandbox's least favourable reading, with
        `GATEWAY_FAULTS` and the chaos latency: every number reaches the gateway once, the
        campaign finishes; what cannot be proved absent is held `unknown`."""
        client = redis.Redis.from_url(self.redis_url)
        campaign = f"{provider}-faults"
        faults = {**GATEWAY_FAULTS, "timeout_sleep_s": timeout_sleep_s()}
        with self.stack(campaign) as stack:
            base = self.provider_sandbox(stack, provider, faults)
            self.workers(stack, SMS_PROVIDER=provider)
            started = time.monotonic()
            expected = self.import_for(base, provider, campaign, n, batch_size)
            st = self.sent(client, campaign, n)
            seconds = time.monotonic() - started
            return self.provider_result(
                f"{provider}: 20% 500s, 10% taken then unanswered",
                base,
                client,
                campaign,
                expected,
                seconds,
                st,
            )

    def provider_kills(
        self, provider: str, n: int, kills: int, batch_size: int | None = None
    ) -> Result:
        """`provider` at the chaos latency, a worker process SIGKILLed `kills` times while
        batches are on their way: what a killed run had claimed but not sent goes out
        once; what it may have sent is found (SMSC.ru) or held `unknown` (SmsManager)."""
        client = redis.Redis.from_url(self.redis_url)
        campaign = f"{provider}-kill"
        with self.stack(campaign) as stack:
            base = self.provider_sandbox(stack, provider, {})
            master = self.workers(stack, SMS_PROVIDER=provider)
            started = time.monotonic()
            expected = self.import_for(base, provider, campaign, n, batch_size)
            for k in range(kills):
                target = n * (k + 1) // (kills + 1)
                wait_until(
                    lambda t=target: sandbox_state(base)["acceptedMessages"] >= t, self.timeout_s
                )
                os.kill(worker_children(master.pid)[0], signal.SIGKILL)
                master.wait(60)  # dramatiq's master stops the other worker and exits
                master = self.workers(stack, SMS_PROVIDER=provider)
                stack.wait_ready(master)  # a master killed before "ready" waits 30 s
            st = self.sent(client, campaign, n)
            seconds = time.monotonic() - started
            scenario = f"{provider}: worker SIGKILLed x{kills}, {self.latency_ms} ms latency"
            return self.provider_result(scenario, base, client, campaign, expected, seconds, st)

    def provider_sandbox(self, stack: Stack, provider: str, faults: dict[str, Any]) -> str:
        config = {"faults": {"latency_ms": self.latency_ms, **faults}}
        return stack.sandbox(provider=provider, SANDBOX_CONFIG=orjson.dumps(config).decode())

    def import_for(
        self, base: str, provider: str, campaign: str, n: int, batch_size: int | None
    ) -> set[str]:
        """A personalised campaign ("Hi {name}": every message its own text) for
        `provider` only; its expected messageIds."""
        report = api.import_csv(
            self.csv(campaign, n),
            campaign=campaign,
            text="Hi {name}",
            settings=self.settings(base, batch_size=batch_size),
            provider=provider,
        )
        assert report.valid == n, report
        return expected_ids(campaign, n)

    def sent(self, client: redis.Redis, campaign: str, n: int) -> dict[str, Any]:
        """The campaign finished: nothing in flight (queued, deferred, retrying), every
        message past sending, not paused."""
        return self.wait(
            client,
            campaign,
            lambda s: s["in_flight"] == 0 and s["done_sending"] >= n and not s["paused"],
        )

    def provider_result(
        self,
        scenario: str,
        base: str,
        client: redis.Redis,
        campaign: str,
        expected: set[str],
        seconds: float,
        status: dict[str, Any],
    ) -> Result:
        """Counted by number at a gateway that names a message `{request id}:{number}`:
        `double` the sends beyond a number's first, `lost` the numbers it never took.  A
        message held `unknown` whose number the gateway took counts as reached; the details
        say whether every held number was taken and whether each was taken in a request
        the gateway left unanswered (`acceptedInTimeouts`)."""
        sb = sandbox_state(base, ids=1)
        sends: Counter[str] = Counter()
        for key, count in sb["accepted"].items():
            sends[key.rsplit(":", 1)[1]] += count
        numbers = {number_of(mid) for mid in expected}
        held = {row["to"] for row in unknowns.listing(client, campaign)}
        in_timeouts = {key.rsplit(":", 1)[1] for key in sb["acceptedInTimeouts"]}
        asked, had = self.asked()
        notes = []
        if in_timeouts:
            notes.append(f"{len(in_timeouts)} taken in requests left unanswered")
        if held:
            cut_off = (held - in_timeouts) & set(sends)  # taken, the answer lost (a kill)
            parts = [
                f"{len(held & in_timeouts)} of those" if in_timeouts else "",
                f"{len(cut_off)} taken in requests a kill cut off" if cut_off else "",
                f"{len(held - set(sends))} never taken",
            ]
            notes.append("held unknown: " + ", ".join(part for part in parts if part))
        if asked:
            notes.append(f"lookups asked about {asked}, found {had}")
        return Result(
            scenario,
            len(expected),
            sum(sends.values()),
            sum(count - 1 for count in sends.values() if count > 1),
            len(numbers - set(sends)),
            round(seconds, 1),
            "; ".join(notes),
            {
                "extra": len(set(sends) - numbers),
                "counts": status["counts"],
                "held": len(held),
                "held_not_taken": len(held - set(sends)),
                "held_outside_timeouts": len(held - in_timeouts),
                "taken_in_timeouts": len(in_timeouts),
                "timeouts": len(sb["timeouts"]),
                "http": sb["http"],
                "requests": sb["requests"],
                "statuses": sb["statuses"],
                "asked": asked,
                "had": had,
            },
            status["unknown"],
        )

    def report_burst(self, n: int) -> Result:
        """`n` delivery reports POSTed to the webhook at once, one report per request."""
        client = redis.Redis.from_url(self.redis_url)
        with descriptors(2 * n + 1000), self.stack("burst") as stack:
            self.sandbox(stack)  # the stack's gateway credentials, which the webhook checks
            hook = stack.webhook(HOOK_USER, HOOK_PASSWORD)
            mids = [f"burst-{i}" for i in range(n)]
            sent = [
                Event(mid, "burst", State.ACCEPTED, "burst-b0", provider="ants") for mid in mids
            ]
            record(client, sent, StreamPolicy())  # a report is applied only to what was sent
            started = time.monotonic()
            statuses = asyncio.run(post_reports(hook, mids))
            seconds = time.monotonic() - started
        applied = sum(s == "delivered" for s in ledger.states(client, mids))
        refused = sum(1 for s in statuses if not 200 <= s < 300)
        return Result(
            "delivery-report burst, one report per POST",
            n,
            0,
            0,
            n - applied,
            round(seconds, 1),
            f"{refused} of {n} answered non-2xx",
            {"refused": refused},
        )


# ---------------------------------------------------------------- helpers


def asked_in(logs: Path) -> tuple[int, int]:
    """From the workers' logs in `logs`: destinations with an unknown outcome a gateway was
    asked about, and how many of them it had (each a double send without the asking)."""
    asked = had = 0
    for log in logs.glob("workers-*.log"):
        for m in ASKED.finditer(log.read_text(errors="replace")):
            asked, had = asked + int(m.group(1)), had + int(m.group(2))
    return asked, had


def timeout_sleep_s() -> float:
    """How long a hung request is held: past the workers' SMS_HTTP_TIMEOUT."""
    return float(WORKER_ENV["SMS_HTTP_TIMEOUT"]) + 2.0


def expected_ids(campaign: str, n: int) -> set[str]:
    return {f"{campaign}-{line}" for line in range(2, n + 2)}


FAILOVER_PROBE_S = 2  # the failover scenario's SMS_FAILOVER_PROBE_AFTER
FAILBACK_OFFSET = 5_000_000  # the failover scenario's second campaign: other numbers


def number_of(mid: str) -> str:
    """The number `Chaos.csv` wrote for a messageId (`{campaign}-{line}`), as a gateway
    sees it (66...)."""
    campaign, line = mid.rsplit("-", 1)
    i = int(line) - 2 + (FAILBACK_OFFSET if campaign == "failback" else 0)
    return f"668{i % 10}{i:07d}"


def since(ms: int, start_ms: int) -> float | None:
    return round((ms - start_ms) / 1000, 1) if ms else None


def redis_ms(client: redis.Redis) -> int:
    secs, micros = client.time()
    return int(secs) * 1000 + int(micros) // 1000


def first_accepted_ms(client: redis.Redis, provider: str, since_ms: int) -> int:
    """When the outcome stream first shows `provider` accepting, from `since_ms` on (a
    stream entry's id is its Redis time in ms)."""
    for entry_id, fields in client.xrange(keys.OUTCOMES, min=f"{since_ms}-0"):
        if fields.get(b"provider") == provider.encode() and fields[b"state"] == b"accepted":
            return int(entry_id.split(b"-")[0])
    return 0


def sandbox_state(base: str, **flags: int) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in flags.items())
    with urllib.request.urlopen(f"{base}/_sandbox/state?{query}", timeout=30) as resp:
        return orjson.loads(resp.read())


def sandbox_post(base: str, section: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{base}/_sandbox/{section}", data=orjson.dumps(body), method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def wait_until(ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready in {timeout_s:.0f}s")
        time.sleep(POLL_S)


def both(call: Callable[[], Any]) -> None:
    """The same operation twice at the same moment (two operators, or a retried call)."""
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def run() -> None:
        gate.wait()
        try:
            call()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def worker_children(master: int) -> list[int]:
    """The dramatiq worker processes of a master (not its fork helpers, if any)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = [p for p in child_pids(master) if b"dramatiq" in _cmdline(p)]
        if pids:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"no worker children of {master}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def descriptors(wanted: int) -> Iterator[None]:
    """Room for `wanted` open files here and in the processes started meanwhile (a burst
    needs a socket per request on both sides)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def post_reports(hook: str, mids: list[str]) -> list[int]:
    """One 2018-format DELIVERED report per POST, all at once (status 0: no answer)."""
    headers = {
        "Authorization": aiohttp.encode_basic_auth(HOOK_USER, HOOK_PASSWORD),
        "Content-Type": "application/json",
    }
    status = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as session:

        async def post(mid: str) -> int:
            body = orjson.dumps(
                {"results": [{"messageId": mid, "to": "66812345678", "status": status}]}
            )
            try:
                async with session.post(hook, data=body, headers=headers) as resp:
                    await resp.read()
                    return resp.status
            except (aiohttp.ClientError, TimeoutError):
                return 0

        return list(await asyncio.gather(*(post(m) for m in mids)))
