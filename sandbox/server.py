"""Entry points: `run` (blocking, for the CLI `smsdispatch sandbox --port N`) and `start`
(in-process, for tests and benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from sandbox.app import make_app
from sandbox.gateway import SANDBOX
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState

log = logging.getLogger("sandbox")


async def start(
    host: str, port: int, settings: SandboxSettings | None = None
) -> tuple[web.AppRunner, SandboxState]:
    """Start the sandbox on host:port (port 0: any free port, see `bound_port`)."""
    app = make_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner, app[SANDBOX].state


def bound_port(runner: web.AppRunner) -> int:
    """The port a runner started with port 0 actually listens on."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the sandbox is not listening")


def run(host: str, port: int, settings: SandboxSettings) -> None:
    """Serve until interrupted (Ctrl-C)."""

    async def serve() -> None:
        runner, _ = await start(host, port, settings)
        log.info("ANTS sandbox listening on http://%s:%d", host, bound_port(runner))
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
