"""The limiter's Lua scripts (`gcra`, `sliding_window`, `semaphore`,
`flooding`), loaded by name.

Loading is `core.lua`'s, shared by every script in the product: read once per
process, registered once per client, EVALSHA with redis-py's fallback on NOSCRIPT
(server restarted, SCRIPT FLUSH, another server).
"""

from __future__ import annotations

from typing import Any

from core import lua

PACKAGE = "core.limits"
SCRIPT_NAMES = ("gcra", "sliding_window", "semaphore", "flooding")


def source(name: str) -> str:
    """The text of `<name>.lua` next to this module."""
    if name not in SCRIPT_NAMES:
        raise KeyError(f"no limiter script named {name!r}; known: {', '.join(SCRIPT_NAMES)}")
    return lua.source(name, PACKAGE)


def script(client: Any, name: str) -> Any:
    """The registered script `name` on `client` (a sync or an asyncio redis-py client)."""
    source(name)  # unknown names fail here, with the list of known ones
    return lua.script(client, name, PACKAGE)
