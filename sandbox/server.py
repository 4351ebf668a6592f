"""Entry points: `run` (blocking, for the CLI `smsdispatch sandbox --provider P --port N`) and
`start` (in-process, for tests and benchmarks).

One sandbox per gateway: `APPS` names the module whose `make_app(settings)` builds it.
Each shares the fault injection, the counting state (sends per messageId, the
duplicate-id check that can be turned off, concurrent requests) and the control routes
(`/_sandbox/...`), and speaks its own gateway's API."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging

from aiohttp import web

from sandbox.gateway import SANDBOX
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState

log = logging.getLogger("sandbox")
APPS = {  # provider -> module with make_app(settings)
    "ants": "sandbox.app",
    "smsc": "sandbox.smsc.app",
    "smsmanager": "sandbox.smsmanager.app",
}


CHECKS_IDS = frozenset({"ants"})  # gateways that refuse a reused id (ANTS: 23); not the others


def default_settings(provider: str) -> SandboxSettings:
    """A faithful sandbox of `provider`: only the gateways that do refuse a reused id do."""
    return SandboxSettings(dedupe_ids=provider in CHECKS_IDS)


def make_app(settings: SandboxSettings | None = None, provider: str = "ants") -> web.Application:
    if provider not in APPS:
        raise ValueError(f"no sandbox for {provider!r}; there are: {', '.join(sorted(APPS))}")
    return importlib.import_module(APPS[provider]).make_app(settings)  # type: ignore[no-any-return]


async def start(
    host: str, port: int, settings: SandboxSettings | None = None, provider: str = "ants"
) -> tuple[web.AppRunner, SandboxState]:
    """Start the sandbox on host:port (port 0: any free port, see `bound_port`)."""
    app = make_app(settings, provider)
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


def run(host: str, port: int, settings: SandboxSettings, provider: str = "ants") -> None:
    """Serve until interrupted (Ctrl-C)."""

    async def serve() -> None:
        runner, _ = await start(host, port, settings, provider)
        log.info("%s sandbox listening on http://%s:%d", provider, host, bound_port(runner))
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
