"""Every `smsdispatch` subcommand under hostile arguments answers in one line, never with a
traceback: missing values, a port of 99999, a port in use, a file that does not exist, a
campaign id with bad characters, output to a closed pipe, Ctrl-C.

The subcommands come from the parser itself (`cli._parser()`), so a new one is covered
without touching this file.  Each runs as a real process (what an operator sees) on the
test Redis, with credentials for a gateway that does not exist.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from dispatcher import api, cli
from dispatcher.stack import COVERAGE_VAR
from tests.integration.conftest import write_csv

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
BAD_ID = "../bad id;*?\t'\""
NO_FILE = "/no/such/dir/file.csv"
CAMPAIGN = "hostile"
TIMEOUT_S = 60
CREDENTIALS = ("ANTS_USERNAME", "ANTS_PASSWORD", "SMSC_LOGIN", "SMSC_PASSWORD", "SMS_ROUTES")
Leaf = tuple[tuple[str, ...], argparse.ArgumentParser]


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """(command words, parser) of every runnable subcommand, nested ones too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, (*path, name))
            return
    yield path, parser


LEAVES = list(leaves(cli._parser()))
NAMES = [" ".join(path) for path, _ in LEAVES]


def serves(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> bool:
    """A command that runs until stopped (a server, the workers, the demo)."""
    return path in (("worker",), ("demo",)) or any(
        "--port" in a.option_strings for a in parser._actions
    )


def takes_value(action: argparse.Action) -> bool:
    return action.nargs not in (0, "*", "?") and not isinstance(action, argparse._HelpAction)


def fill(parser: argparse.ArgumentParser, file: str, campaign: str, csv_out: str) -> list[str]:
    """The arguments a command requires, each given a plausible value (or the hostile one)."""

    def value(action: argparse.Action) -> str:
        if action.choices:
            return str(next(iter(action.choices)))
        named = {"campaign": campaign, "file": file, "csv": csv_out, "text": "hi"}
        return named.get(action.dest, "x")

    words: list[str] = []
    for action in parser._actions:
        if not takes_value(action):
            continue
        if not action.option_strings:
            words.append(value(action))
        elif action.required:
            words += [action.option_strings[0], value(action)]
    return words


def flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every on/off flag (--json, --once, ...): the most output, one round."""
    return [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings and a.nargs == 0 and not isinstance(a, argparse._HelpAction)
    ]


@pytest.fixture
def env(r: redis.Redis, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The test Redis holding one campaign; credentials for a gateway nobody listens on."""
    api.import_csv(
        write_csv(tmp_path / "in.csv", 20),
        campaign=CAMPAIGN,
        text="hi",
        settings=Settings(redis_url=redis_url),
    )
    clean = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    return clean | {
        "REDIS_URL": redis_url,
        "ANTS_API_KEY": "k",
        "WEBHOOK_USERNAME": "u",
        "WEBHOOK_PASSWORD": "p",
        "COLUMNS": "200",
        "ANTS_BASE_URL": "http://127.0.0.1:9",
        "PYTHONPATH": str(ROOT),
    }


def run(
    argv: list[str], env: dict[str, str], cwd: Path, closed_stdout: bool = False
) -> tuple[int, str]:
    """Run `smsdispatch argv`; its exit code and everything it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if closed_stdout:
        assert proc.stdout is not None
        proc.stdout.close()  # the reader went away, as `| head -1` does
        out = b""
        _, err = proc.communicate(timeout=TIMEOUT_S)
    else:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    return proc.returncode, (out + err).decode(errors="replace")


def assert_one_line_answer(code: int, text: str, argv: list[str]) -> None:
    assert "Traceback" not in text, f"smsdispatch {argv}:\n{text}"
    assert code in (0, 1, 2), f"smsdispatch {argv} exited {code}:\n{text}"


def test_every_subcommand_is_covered() -> None:
    assert {"import", "export", "status", "api", "webhook", "worker", "reports poll"} <= set(NAMES)


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=NAMES)
def test_missing_values_are_named_without_a_traceback(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only argument lists argparse refuses: a command here never starts."""
    base = fill(parser, NO_FILE, CAMPAIGN, "-")
    required = [
        a for a in parser._actions if takes_value(a) and (a.required or not a.option_strings)
    ]
    cases = [[*path]] if required else []
    cases += [
        [*path, *base, a.option_strings[0]]
        for a in parser._actions
        if a.option_strings and takes_value(a)
    ]
    for argv in cases:
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        text = capsys.readouterr().err
        assert stopped.value.code == 2 and "Traceback" not in text and "error:" in text, argv


# a command that runs until stopped and takes no port (worker, demo) has nothing to end it
# here: the missing-values test covers it
ENDING = [
    (path, parser)
    for path, parser in LEAVES
    if not serves(parser, path) or any("--port" in a.option_strings for a in parser._actions)
]


@pytest.mark.parametrize(("path", "parser"), ENDING, ids=[" ".join(p) for p, _ in ENDING])
def test_hostile_arguments_get_a_one_line_answer(
    path: tuple[str, ...], parser: argparse.ArgumentParser, env: dict[str, str], tmp_path: Path
) -> None:
    """A campaign id with bad characters, a file that does not exist, output to a closed
    pipe (commands that end); a port of 99999 and a port in use (commands that serve)."""
    good = str(write_csv(tmp_path / "good.csv", 5))
    dests = {a.dest for a in parser._actions}
    # coverage measures each command's first, plausible run; the hostile repeats (dozens of
    # processes) run without its tracer, which would double their CPU
    unmeasured = {k: v for k, v in env.items() if k != COVERAGE_VAR}
    if serves(parser, path):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))  # bound, not listening: nobody answers on it
            port = str(taken.getsockname()[1])
            for bad, code in (("99999", 2), (port, 1)):
                argv = [*path, *fill(parser, good, CAMPAIGN, "-"), "--port", bad]
                done, text = run(argv, unmeasured, tmp_path)
                assert_one_line_answer(done, text, argv)
                assert done == code and "error:" in text, text
        return
    cases = [[*path, *fill(parser, good, CAMPAIGN, "-"), *flags(parser)]]
    if "campaign" in dests:
        cases.append([*path, *fill(parser, good, BAD_ID, "-"), *flags(parser)])
    if dests & {"file", "csv", "items"}:
        listed = [NO_FILE] if "items" in dests else []  # e.g. `optout add|import FILE`
        cases.append([*path, *fill(parser, NO_FILE, CAMPAIGN, NO_FILE), *listed])
    for i, argv in enumerate(cases):
        done, text = run(argv, unmeasured if i else env, tmp_path, closed_stdout=i == 0)
        assert_one_line_answer(done, text, argv)


def test_ctrl_c_exits_130_without_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "reports", "sweep", "--interval", "30"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + TIMEOUT_S
    seen = b""
    while b"marked expired" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130 and b"Traceback" not in seen + err


def test_a_running_embedded_server_is_found_by_every_command(
    env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """Without REDIS_URL, a command uses the embedded server another command (`worker`,
    `demo`) runs for this folder, and says so."""
    (tmp_path / ".smsdispatch").mkdir()
    (tmp_path / ".smsdispatch" / "redis.url").write_text(redis_url)
    without = {k: v for k, v in env.items() if k != "REDIS_URL"}
    code, text = run(["status", CAMPAIGN], without, tmp_path)
    assert code == 0 and "embedded, found in .smsdispatch/redis.url" in text, text
