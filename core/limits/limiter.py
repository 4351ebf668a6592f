"""`Limiter` (sync `redis.Redis`) and `AsyncLimiter` (`redis.asyncio.Redis`).

Both are thin: the packing and decoding live in `core.limits.plan`, the
decisions in the Lua scripts.  Each method is ONE script call whatever the
batch size (none for an empty batch), except `flooding`: one call per
`plan.FLOOD_CHUNK` items (its per-item work is the heaviest, and one call for a
1,000-destination batch held Redis long enough to delay every other client; the
chunks decide as one call would: `plan.flooding_calls`).  Every answer is a wait
in milliseconds: 0 = allowed now (and counted), n > 0 = refused, try again in n ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio

from core.limits import plan
from core.limits.plan import ScriptCall, Windows
from core.limits.scripts import script
from core.limits.spec import Limit

T = TypeVar("T")


def _send(client: Any, call: ScriptCall[Any]) -> Any:
    """Start the script call: the reply (sync client) or an awaitable of it (async client)."""
    return script(client, call.script)(keys=call.keys, args=call.args)


class Limiter:
    """Rate, flooding, OTP and concurrency limits over a sync redis-py client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _run(self, call: ScriptCall[T]) -> T:
        return call.decode([] if call.empty else _send(self.client, call))

    def throughput(
        self, name: str, rate: Limit, burst: int, costs: Sequence[int], reserve: int = 0
    ) -> list[int]:
        """GCRA: waits for items costing `costs` units (SMS parts); order kept (see gcra.lua)."""
        return self._run(plan.throughput(name, rate, burst, costs, reserve))

    def windows(self, items: Sequence[Windows]) -> list[int]:
        """Exact sliding logs: each item is a list of (key, Limit), keys from core.keys."""
        return self._run(plan.windows(items))

    def flooding(
        self,
        items: Sequence[tuple[str, str]],
        varied: Limit | None,
        identical: Limit | None,
        members: Sequence[str] | None = None,
        provider: str = "",
    ) -> list[int]:
        """Anti-flooding per recipient for (number, text) items (members: their messageIds),
        counted per provider; FLOOD_CHUNK items to a script call."""
        calls = plan.flooding_calls(items, varied, identical, members, provider)
        return [wait for call in calls for wait in self._run(call)]

    def otp_send_allowed(
        self,
        app: str,
        phone: str,
        per_phone: Limit,
        per_app: Limit,
    ) -> int:
        """Wait before this application may send a PIN to `phone` (0: allowed and counted)."""
        return self._run(plan.otp_send(app, phone, per_phone, per_app))

    def otp_verify_allowed(self, subject: str, limit: Limit) -> int:
        """Wait before a PIN verification for `subject` (phone or PIN id) is allowed."""
        return self._run(plan.otp_verify(subject, limit))

    def acquire(self, name: str, limit: int, holder: str, ttl_ms: int) -> int:
        """Take (or refresh) a slot of semaphore `name`: 0 = granted, else a wait hint in ms."""
        return self._run(plan.acquire(name, limit, holder, ttl_ms))

    def release(self, name: str, holder: str) -> bool:
        """Give the slot back; False when `holder` had none (it expired)."""
        return self._run(plan.release(name, holder))


class AsyncLimiter:
    """The same limits over a `redis.asyncio.Redis` client, for the async workers."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def _run(self, call: ScriptCall[T]) -> T:
        return call.decode([] if call.empty else await _send(self.client, call))

    async def throughput(
        self, name: str, rate: Limit, burst: int, costs: Sequence[int], reserve: int = 0
    ) -> list[int]:
        return await self._run(plan.throughput(name, rate, burst, costs, reserve))

    async def windows(self, items: Sequence[Windows]) -> list[int]:
        return await self._run(plan.windows(items))

    async def flooding(
        self,
        items: Sequence[tuple[str, str]],
        varied: Limit | None,
        identical: Limit | None,
        members: Sequence[str] | None = None,
        provider: str = "",
    ) -> list[int]:
        waits: list[int] = []
        for call in plan.flooding_calls(items, varied, identical, members, provider):
            chunk: list[int] = await self._run(call)
            waits += chunk
        return waits

    async def otp_send_allowed(
        self,
        app: str,
        phone: str,
        per_phone: Limit,
        per_app: Limit,
    ) -> int:
        return await self._run(plan.otp_send(app, phone, per_phone, per_app))

    async def otp_verify_allowed(self, subject: str, limit: Limit) -> int:
        return await self._run(plan.otp_verify(subject, limit))

    async def acquire(self, name: str, limit: int, holder: str, ttl_ms: int) -> int:
        return await self._run(plan.acquire(name, limit, holder, ttl_ms))

    async def release(self, name: str, holder: str) -> bool:
        return await self._run(plan.release(name, holder))
