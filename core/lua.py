"""Lua scripts live in `.lua` files beside the module that uses them, loaded by name.

`script(client, "record")` reads `core/record.lua` once, registers it on the
client (EVALSHA, falling back on EVAL after NOSCRIPT, e.g. after a Redis restart)
and caches the handle per client.  A line `--#include NAME` is replaced by the text
of `core/NAME.lua`, so code several scripts share (the ledger's packed state) is
written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any
from weakref import WeakKeyDictionary

_INCLUDE = re.compile(r"^--#include (\w+)$", re.MULTILINE)
_registered: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


@cache
def source(name: str, package: str = "core") -> str:
    """The text of `<package>/<name>.lua`, its includes expanded."""
    text = resources.files(package).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: source(m.group(1)), text)


def script(client: Any, name: str, package: str = "core") -> Any:
    """A registered script handle (sync or async, like the client) for `name`."""
    scripts = _registered.setdefault(client, {})
    key = f"{package}:{name}"
    if key not in scripts:
        scripts[key] = client.register_script(source(name, package))
    return scripts[key]


class Declared:
    """A script's KEYS, each key once, addressed by the 1-based index Lua sees: every key a
    call touches is declared (a Redis Cluster routes on them), items name theirs by index."""

    def __init__(self, *first: str) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        for key in first:
            self.at(key)

    def at(self, key: str) -> int:
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        return self._index[key]
