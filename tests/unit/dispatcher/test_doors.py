"""Safe defaults at the doors: servers listen on loopback unless told otherwise."""

from __future__ import annotations

import pytest

from dispatcher import cli


@pytest.mark.parametrize("command", ["api", "webhook"])
def test_servers_listen_on_loopback_unless_told(command: str) -> None:
    parser = cli._parser()
    assert parser.parse_args([command]).host == "127.0.0.1"
    assert parser.parse_args([command, "--host", "0.0.0.0"]).host == "0.0.0.0"


def test_the_procfile_says_where_a_container_listens() -> None:
    from pathlib import Path

    lines = Path(__file__).parents[3].joinpath("Procfile").read_text().splitlines()
    servers = [line for line in lines if line.startswith(("api:", "webhook:"))]
    assert len(servers) == 2 and all("--host 0.0.0.0" in line for line in servers)
