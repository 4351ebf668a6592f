"""Where the configuration comes from: the process's environment, then `.env`.

Importing `config` (every process does, before anything reads a variable) puts the
variables of `.env` in the working directory into `os.environ`, each only where the
real environment has none: the real environment wins.  `origin(name)` says where a
variable came from, for the start-up line of every command.  `config.settings`
validates them.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values

DOTENV = Path(".env")  # in the working directory, as .env.example asks
ENVIRONMENT, DOTENV_FILE = "the environment", ".env"
CONFIG_EXIT_CODE = 2  # a process stopped by a missing or bad setting exits with this


def read_dotenv(path: Path, environ: MutableMapping[str, str]) -> frozenset[str]:
    """Put the variables of `path` into `environ` where it has none (or an empty one);
    returns the names taken from the file."""
    if not path.is_file():
        return frozenset()
    taken = set()
    for name, value in dotenv_values(path).items():
        if value is not None and not environ.get(name, "").strip():
            environ[name] = value
            taken.add(name)
    return frozenset(taken)


FROM_DOTENV = read_dotenv(DOTENV, os.environ)


def origin(name: str) -> str:
    """Where the variable `name` came from: `.env` or the environment."""
    return DOTENV_FILE if name in FROM_DOTENV else ENVIRONMENT
