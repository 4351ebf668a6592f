"""Load the limiter's Lua scripts by name and register them once per Redis client.

`script(client, "gcra")` reads `workers/limits/gcra.lua` (once per process),
registers it on `client` with redis-py's `register_script` (once per client)
and returns the `Script` / `AsyncScript` object.  Calling that object sends
EVALSHA and, on NOSCRIPT (server restarted, SCRIPT FLUSH, another server),
loads the source and retries: redis-py does that fallback itself.
"""

from __future__ import annotations

import weakref
from functools import cache
from pathlib import Path
from typing import Any

SCRIPT_DIR = Path(__file__).resolve().parent
SCRIPT_NAMES = ("gcra", "sliding_window", "semaphore")

_registered: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


@cache
def source(name: str) -> str:
    """The text of `<name>.lua` next to this module."""
    if name not in SCRIPT_NAMES:
        raise KeyError(f"no limiter script named {name!r}; known: {', '.join(SCRIPT_NAMES)}")
    return (SCRIPT_DIR / f"{name}.lua").read_text(encoding="utf-8")


def script(client: Any, name: str) -> Any:
    """The registered script `name` on `client` (a sync or an asyncio redis-py client)."""
    per_client = _registered.setdefault(client, {})
    registered = per_client.get(name)
    if registered is None:
        registered = per_client[name] = client.register_script(source(name))
    return registered
