"""Huge headers and slow clients against `smsdispatch api` and the webhook (issue 20).

Each server runs with the limits `run()` gives it (SERVER_LIMITS, IDLE_S), with its
timeouts shortened so the test takes seconds: a 100 KB header line and 10,000 headers
are a 400 at once; headers sent one byte a second are cut off after IDLE_S; a body sent
one byte a second is a 408 (API: BODY_WINDOW_S; webhook: BODY_TIMEOUT_S, and the slots
it held are free again); a client that never reads its answer holds no thread.  All the
while a normal request is answered at once.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from aiohttp import web

from config.settings import Settings
from dispatcher.http import app as api_app
from dispatcher.http import auth
from dispatcher.reports import webhook
from tests import http_kit

pytestmark = pytest.mark.integration
IDLE_S = 2.0  # the servers' IDLE_S, shortened
BODY_S = 1.5  # BODY_WINDOW_S (API) and BODY_TIMEOUT_S (webhook), shortened
FAST_S = 1.0  # a normal request is answered within this, whatever the others do
DRIP_S = 1.0  # one byte a second


@dataclass
class Server:
    port: int
    headers: dict[str, str]  # what a normal request sends
    post: str  # a path whose handler reads a body


@contextmanager
def serving(app: web.Application, limits: dict[str, int]) -> Iterator[int]:
    """`app` on a loopback port with the limits `run()` uses, in a thread of its own."""
    with http_kit.serving(app, keepalive_timeout=IDLE_S, **limits) as port:
        yield port


@pytest.fixture(params=["api", "webhook"])
def server(
    request: pytest.FixtureRequest, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    settings = Settings(redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    monkeypatch.setattr(api_app, "BODY_WINDOW_S", BODY_S)
    monkeypatch.setattr(webhook, "BODY_TIMEOUT_S", BODY_S)
    if request.param == "api":
        key = auth.create(client, "hostile", "send")
        with serving(api_app.make_app(settings), api_app.SERVER_LIMITS) as port:
            yield Server(port, {"Authorization": f"Bearer {key}"}, "/v1/messages")
    else:
        app = webhook.make_app(
            settings, insecure_no_auth=True, max_in_flight=2, max_wait=3 * BODY_S
        )
        with serving(app, webhook.SERVER_LIMITS) as port:
            yield Server(port, {}, "/dlr")
    client.flushdb()
    client.close()


def normal_request(server: Server) -> float:
    """A GET /healthz; returns how long its answer took."""
    started = time.monotonic()
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/healthz", headers=server.headers)
    with urllib.request.urlopen(req, timeout=10) as answer:
        assert answer.status == 200
    return time.monotonic() - started


def raw_exchange(
    port: int, head: bytes, drip: bytes = b"", limit_s: float = 15.0
) -> tuple[float, bytes]:
    """Send `head`, then `drip` one byte a second; return when the server answered or closed
    (seconds, what it sent).  A server that does neither within limit_s fails the test."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        sock.sendall(head)
        sock.settimeout(DRIP_S)
        for byte in drip:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed on us: see what it said
                break
            try:
                if answer := sock.recv(65536):
                    return time.monotonic() - started, answer
                return time.monotonic() - started, b""  # closed
            except TimeoutError:
                continue
            except OSError:
                return time.monotonic() - started, b""
        sock.settimeout(max(0.1, limit_s - (time.monotonic() - started)))
        try:
            return time.monotonic() - started, sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"no answer and not closed after {limit_s}s")
        except OSError:
            return time.monotonic() - started, b""


def meanwhile(server: Server, hostile: Callable[[], Any]) -> Any:
    """Run `hostile` in a thread, and a normal request every half second beside it."""
    with ThreadPoolExecutor(1) as pool:
        future: Future[Any] = pool.submit(hostile)
        times = [normal_request(server)]  # at least one, however fast the hostile one ends
        while not future.done():
            time.sleep(0.5)
            times.append(normal_request(server))
        result = future.result()
    assert times and max(times) < FAST_S, f"normal requests took {times}"
    return result


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def test_a_100_kb_header_line_is_a_400_at_once(server: Server) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    seconds, answer = meanwhile(server, lambda: raw_exchange(server.port, head))
    assert status_of(answer) == 400 and seconds < FAST_S


def test_ten_thousand_headers_are_a_400_at_once(server: Server) -> None:
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(10_000))
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    seconds, answer = meanwhile(server, lambda: raw_exchange(server.port, head))
    assert status_of(answer) == 400 and seconds < FAST_S


def test_headers_one_byte_a_second_are_cut_off(server: Server) -> None:
    drip = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 60
    seconds, answer = meanwhile(server, lambda: raw_exchange(server.port, b"", drip))
    assert answer == b"" and seconds < IDLE_S + 2 * DRIP_S


def test_a_body_one_byte_a_second_is_a_408(server: Server) -> None:
    head = (
        f"POST {server.post} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
        + "\r\n"
    ).encode()
    seconds, answer = meanwhile(server, lambda: raw_exchange(server.port, head, b"{" * 100))
    assert status_of(answer) == 408, answer[:200]
    assert seconds < 2 * BODY_S + 2 * DRIP_S


def test_slow_bodies_do_not_keep_the_webhook_s_slots(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two slots, two bodies one byte a second: a gateway's report is still taken, once
    they are cut off, long before its wait for a slot (3 x BODY_S) ends in a 503."""
    monkeypatch.setattr(webhook, "BODY_TIMEOUT_S", BODY_S)
    app = webhook.make_app(
        Settings(redis_url=redis_url), insecure_no_auth=True, max_in_flight=2, max_wait=3 * BODY_S
    )
    head = b"POST /dlr HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with serving(app, webhook.SERVER_LIMITS) as port, ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(raw_exchange, port, head, b"{" * 100) for _ in range(2)]
        time.sleep(0.5)  # both hold a slot
        started = time.monotonic()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/dlr",
            data=b'{"results": []}',
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        waited = time.monotonic() - started
        assert [status_of(f.result()[1]) for f in slow] == [408, 408]
    assert status != 503 and waited < 2 * BODY_S, (status, waited)


def test_a_client_that_never_reads_holds_no_thread(server: Server) -> None:
    """Requests whose answers are never read: the server goes on answering others, and
    no thread is left behind."""
    before = threading.active_count()
    head = (
        b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items()).encode()
        + b"\r\n"
    )
    socks = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.sendall(head * 50)  # pipelined, and never read
        socks.append(sock)
    try:
        for _ in range(4):
            assert normal_request(server) < FAST_S
            time.sleep(0.25)
        assert threading.active_count() <= before + 1  # at most the pool's thread (Redis calls)
    finally:
        for sock in socks:
            sock.close()


def test_run_gives_both_servers_their_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(web, "run_app", lambda app, **options: seen.append(options))
    api_app.run("127.0.0.1", 1, Settings(redis_url="redis://127.0.0.1:1/0"))
    webhook.run("127.0.0.1", 1, Settings(redis_url="redis://127.0.0.1:1/0"), insecure_no_auth=True)
    for options, module in zip(seen, (api_app, webhook), strict=True):
        assert options["keepalive_timeout"] == module.IDLE_S
        assert (options["max_line_size"], options["max_field_size"], options["max_headers"]) == (
            module.MAX_LINE_BYTES,
            module.MAX_FIELD_BYTES,
            module.MAX_HEADERS,
        )
