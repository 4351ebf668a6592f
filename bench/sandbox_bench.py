"""How fast the sandbox answers 1,000-destination /sms/1/text/advanced requests.

Starts the sandbox in a child process (as the product's benchmark would run it) and
drives it from one aiohttp client process with a few concurrent connections.
Prints requests/s and destinations/s, median of 3 runs.

    PYTHONPATH=. python bench/sandbox_bench.py [--requests 200] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import socket
import statistics
import time

import aiohttp
import orjson

from sandbox.server import run
from sandbox.settings import SandboxSettings

AUTH = {"Authorization": "Basic " + base64.b64encode(b"sandbox:sandbox").decode()}
BATCH = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(run_no: int, request_no: int) -> bytes:
    base = 66_800_000_000 + (run_no * 10_000_000) + request_no * BATCH
    destinations = [
        {"to": str(base + i), "messageId": f"r{run_no}-{request_no}-{i}"} for i in range(BATCH)
    ]
    message = {
        "from": "InfoSMS",
        "destinations": destinations,
        "text": "Your order has shipped. Track it at https://example.com/t/12345",
        "notifyUrl": "http://127.0.0.1:9/dlr",  # nobody listens: DLR POSTs fail, cheaply
        "callbackData": "bench",
    }
    return orjson.dumps({"bulkId": f"bench-{run_no}-{request_no}", "messages": [message]})


async def one_run(url: str, run_no: int, requests: int, concurrency: int) -> tuple[float, float]:
    bodies = [body(run_no, n) for n in range(requests)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {**AUTH, "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            data = queue.get_nowait()
            async with session.post(url, data=data, headers=headers) as resp:
                answer = orjson.loads(await resp.read())
                assert resp.status == 200 and len(answer["messages"]) == BATCH, resp.status

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, requests * BATCH / elapsed


def serve(port: int) -> None:
    settings = SandboxSettings()
    settings.dlr.retries = 0
    run("127.0.0.1", port, settings)


async def wait_ready(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("sandbox did not start")


async def main(requests: int, concurrency: int) -> None:
    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    try:
        await wait_ready(port)
        url = f"http://127.0.0.1:{port}/sms/1/text/advanced"
        runs = [await one_run(url, n, requests, concurrency) for n in range(3)]
    finally:
        server.terminate()
        server.join()
    for n, (rps, dps) in enumerate(runs):
        print(f"run {n + 1}: {rps:8.1f} requests/s  {dps:10.0f} destinations/s")
    rps = statistics.median(r for r, _ in runs)
    dps = statistics.median(d for _, d in runs)
    print(f"median : {rps:8.1f} requests/s  {dps:10.0f} destinations/s  ({BATCH} per request)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))
