"""`smsdispatch`: the command line. Every subcommand is a thin layer over a module.

smsdispatch demo                  a whole campaign against the sandbox, embedded Redis
smsdispatch import FILE ...       validate, batch and enqueue a CSV campaign
smsdispatch worker [-p N -t M]    run dramatiq workers (same as `dramatiq workers.actors`)
smsdispatch status CAMPAIGN       counts by state (--json for machines)
smsdispatch pause CAMPAIGN        stop sending it on every worker (batches in hand park)
smsdispatch resume CAMPAIGN       continue a paused campaign
smsdispatch cancel CAMPAIGN       end every unsent message `canceled`; nothing more is sent
smsdispatch parked list|drop CAMPAIGN [MESSAGE_ID...]   a paused campaign's parked destinations
smsdispatch deadletters list|replay [--campaign ID]
smsdispatch unknown list|resend|drop CAMPAIGN [MESSAGE_ID...]   messages held unknown
smsdispatch audit [--campaign ID] [--limit N]   the audit trail, newest first
smsdispatch sandbox [--provider P] --port N   a built-in sandbox gateway
smsdispatch webhook [--host --port] [--insecure-no-auth]   delivery-report intake
smsdispatch reports poll [--provider P] [--once] [--interval S] [--limit N] [--logs ID...]
smsdispatch reports sweep [--campaign ID] [--grace S] [--interval S]
smsdispatch export CAMPAIGN --csv FILE   one row per message
smsdispatch api [--host --port]   the HTTP API and the live operations page
smsdispatch apikey create NAME --scope send|read|admin   (also: list, revoke NAME)
smsdispatch plan FILE --text ... [--json]   a dry run: counts, parts, cost, time; sends nothing
    (import and plan: --binary HEX or --binary-column NAME instead of --text, binary payloads)
smsdispatch optout add|remove NUMBER... | import FILE | list | upgrade   the opt-out list
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import redis
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import CONFIG_EXIT_CODE
from config import settings as config
from core.binary import DEFAULT_DATA_CODING, DEFAULT_ESM_CLASS
from core.errors import ConfigError, DispatchError, InputError, StoreUnavailable
from core.options import SendOptions, send_options
from core.redis_pool import async_redis, sync_redis
from dispatcher import api, audit, control, embedded
from dispatcher.stack import worker_command

console = Console(stderr=True)
DEFAULT_POLL_INTERVAL = 30.0
FAILURE_EXIT = 1
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a Ctrl-C
PLAN_PROGRESS_BYTES = 8 << 20  # plan shows a progress bar on files this big
PLAN_EXAMPLES = 5  # example lines printed per kind of change (--json has them all)
Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the boundary where a person reads what went wrong: one line, never
    a traceback; exit 2 for a usage or configuration error, 1 otherwise, 130 on Ctrl-C."""
    try:
        args = _parser().parse_args(argv)  # a usage error exits 2 with argparse's message
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not as a message at exit
        return code
    except BrokenPipeError:  # `... | head`: the reader has had enough
        _drop_stdout()
        return FAILURE_EXIT
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        url = os.environ.get("REDIS_URL") or "the embedded server"
        return _error(StoreUnavailable(url, str(exc)), CONFIG_EXIT_CODE)
    except DispatchError as exc:
        return _error(exc, CONFIG_EXIT_CODE)
    except OverflowError as exc:  # a number out of range, e.g. `--port 99999`
        return _error(exc, CONFIG_EXIT_CODE)
    except OSError as exc:  # a port in use, a file that cannot be written
        return _error(exc, FAILURE_EXIT)
    except Exception as exc:
        return _error(f"{type(exc).__name__}: {exc}", FAILURE_EXIT)


def _error(problem: object, code: int) -> int:
    with contextlib.suppress(OSError):
        console.print(f"[bold red]error:[/] {escape(str(problem))}")
    return code


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smsdispatch", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    _demo_args(sub.add_parser("demo", help="run a whole campaign against the sandbox"))
    _import_args(sub.add_parser("import", help="import a CSV campaign"))
    w = sub.add_parser("worker", help="run dramatiq worker processes")
    w.add_argument("-p", "--processes", type=int, default=None)
    w.add_argument("-t", "--threads", type=int, default=None)
    w.add_argument("-Q", "--queues", nargs="*", default=None)
    w.add_argument(
        "--nice",
        type=_niceness,
        default=0,
        help="run this many steps below the default CPU priority (0-19): campaign workers "
        "below the otp ones on one host",
    )
    w.set_defaults(func=cmd_worker)
    s = sub.add_parser("status", help="a campaign's counts by state")
    s.add_argument("campaign")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    ls = sub.add_parser("campaigns", help="every campaign: kind, state, messages, progress")
    ls.add_argument("--state", choices=control.STATES, help="only campaigns in this state")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    ls.set_defaults(func=cmd_campaigns)
    for name, func, text in (
        ("pause", cmd_pause, "stop sending a campaign on every worker"),
        ("resume", cmd_resume, "continue a paused campaign"),
        ("cancel", cmd_cancel, "end every unsent message of a campaign canceled"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("campaign")
        c.set_defaults(func=func)
    _api_args(sub.add_parser("api", help="the HTTP API and the live operations page"))
    _apikey_args(sub.add_parser("apikey", help="create, list or revoke API keys"))
    pk = sub.add_parser("parked", help="a paused campaign's parked destinations: list or drop")
    pk.add_argument("action", choices=("list", "drop"))
    pk.add_argument("campaign")
    pk.add_argument(
        "message_ids",
        nargs="*",
        metavar="MESSAGE_ID",
        help="drop: the destinations to take out (they end canceled)",
    )
    pk.set_defaults(func=cmd_parked)
    d = sub.add_parser("deadletters", help="list or replay messages whose retries ran out")
    d.add_argument("action", choices=("list", "replay"))
    d.add_argument("--campaign", default=None)
    d.set_defaults(func=cmd_deadletters)
    au = sub.add_parser("audit", help="the audit trail: every control action, who, what")
    au.add_argument("--campaign", default="", help="only this campaign's entries")
    au.add_argument("--limit", type=int, default=100, help="at most this many, newest first")
    au.set_defaults(func=cmd_audit)
    u = sub.add_parser("unknown", help="messages the gateway may have taken: list, resend, drop")
    u.add_argument("action", choices=("list", "resend", "drop"))
    u.add_argument("campaign")
    u.add_argument(
        "message_ids",
        nargs="*",
        metavar="MESSAGE_ID",
        help="resend or drop only these (default: every unknown message of the campaign)",
    )
    u.set_defaults(func=cmd_unknown)
    sb = sub.add_parser("sandbox", help="run a built-in sandbox gateway (ants, smsmanager, smsc)")
    sb.add_argument("--provider", default="ants", help="which gateway it imitates")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8099)
    sb.add_argument(
        "--config",
        default=os.environ.get("SANDBOX_CONFIG", ""),
        help="JSON settings (faults, flooding, dlr...); default $SANDBOX_CONFIG",
    )
    sb.set_defaults(func=cmd_sandbox)
    _webhook_args(sub.add_parser("webhook", help="receive delivery reports (HTTP callbacks)"))
    _reports_args(sub.add_parser("reports", help="poll delivery reports, sweep expired ones"))
    _plan_args(sub.add_parser("plan", help="a dry run of an import: counts, parts, cost, time"))
    _optout_args(sub.add_parser("optout", help="the opt-out list every campaign honours"))
    e = sub.add_parser("export", help="a campaign's messages as CSV")
    e.add_argument("campaign")
    e.add_argument("--csv", type=Path, required=True, help="output file ('-' for stdout)")
    e.set_defaults(func=cmd_export)
    return p


LOOPBACK = "127.0.0.1"  # servers listen here unless told (--host 0.0.0.0 in a container)


def _webhook_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=LOOPBACK, help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept reports without Basic auth (never in production)",
    )
    p.set_defaults(func=cmd_webhook)


def _reports_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(required=True, metavar="ACTION")
    poll = sub.add_parser(
        "poll",
        help="ask the gateways for delivery states (pull the reports of a gateway that keeps "
        "them; ask the others about every message waiting for a report), within their limits",
    )
    poll.add_argument(
        "--provider",
        action="append",
        default=None,
        metavar="P",
        help="this gateway (repeatable; default: every configured one)",
    )
    poll.add_argument("--once", action="store_true", help="one round, then exit")
    poll.add_argument(
        "--interval", type=float, default=DEFAULT_POLL_INTERVAL, help="seconds between rounds"
    )
    poll.add_argument(
        "--limit", type=int, default=100, help="reports per pull (a gateway that keeps them)"
    )
    poll.add_argument(
        "--logs",
        nargs="+",
        metavar="MESSAGE_ID",
        default=None,
        help="ask the message logs of each --provider that keeps its reports about these "
        "messages instead",
    )
    poll.set_defaults(func=cmd_reports_poll)
    sw = sub.add_parser("sweep", help="mark messages with no final report after validity EXPIRED")
    sw.add_argument("--campaign", default=None)
    sw.add_argument("--grace", type=int, default=None, help="seconds (default SMS_EXPIRY_GRACE)")
    sw.add_argument("--interval", type=float, default=0, help="repeat every S seconds")
    sw.set_defaults(func=cmd_reports_sweep)
    relay = sub.add_parser(
        "relay",
        help="move campaign outboxes into the outcome stream "
        "(SMS_OUTCOME_OUTBOX, on a Redis Cluster)",
    )
    relay.add_argument("--interval", type=float, default=0, help="repeat every S seconds")
    relay.set_defaults(func=cmd_reports_relay)


def _import_args(p: argparse.ArgumentParser) -> None:
    _file_args(p)
    p.add_argument("--campaign", required=True)
    p.add_argument("--rejects", type=Path, default=None, help="default FILE.rejects.csv")
    p.add_argument(
        "--plan-hash",
        default=None,
        metavar="H",
        help="refuse unless file and texts are what `plan` printed H for",
    )
    p.set_defaults(func=cmd_import)


def _plan_args(p: argparse.ArgumentParser) -> None:
    _file_args(p)
    p.add_argument("--json", action="store_true", help="the plan as JSON on stdout")
    p.set_defaults(func=cmd_plan)


def _file_args(p: argparse.ArgumentParser) -> None:
    """What `import` and `plan` both read: the file and the campaign's texts."""
    p.add_argument("file", type=Path)
    p.add_argument("--sender", default=None, help="sender id (default SMS_SENDER)")
    content = p.add_mutually_exclusive_group(required=True)
    content.add_argument("--text", help="message text; {column} placeholders")
    content.add_argument("--binary", metavar="HEX", help="one binary payload (hex) for every row")
    content.add_argument("--binary-column", metavar="NAME", help="a binary payload (hex) per row")
    p.add_argument("--phone-column", default=None)
    p.add_argument("--delimiter", default=None)
    p.add_argument(
        "--gsm-safe",
        action="store_true",
        help="look-alikes (curly quotes, dashes...) to GSM-7 if it fits",
    )
    p.add_argument(
        "--track-links",
        action="store_true",
        help="every http(s) URL of --text becomes a tracked short link, as {link:URL} does",
    )
    p.add_argument(
        "--provider",
        default=None,
        help="the gateway to send through (else SMS_ROUTES, else SMS_PROVIDER)",
    )
    p.add_argument(
        "--send-at",
        default=None,
        help="start later: ISO 8601 with a zone, e.g. 2026-12-24T09:00+07:00",
    )
    p.add_argument(
        "--window",
        default=None,
        help="delivery window in each recipient's local time, e.g. 09:00-20:00",
    )
    _option_args(p)
    _binary_args(p)


def _binary_args(p: argparse.ArgumentParser) -> None:
    """A binary campaign's coding (core.binary), with --binary or --binary-column."""
    p.add_argument(
        "--data-coding",
        type=int,
        default=DEFAULT_DATA_CODING,
        metavar="N",
        help="the payloads' data coding scheme, TS 23.038 (default 4: 8-bit data)",
    )
    p.add_argument(
        "--esm-class",
        type=int,
        default=DEFAULT_ESM_CLASS,
        metavar="N",
        help="ESM class (default 0; 64: each payload begins with a user data header)",
    )


def _binary(args: argparse.Namespace) -> api.BinaryPayload | None:
    if args.binary is None and args.binary_column is None:
        if (args.data_coding, args.esm_class) != (DEFAULT_DATA_CODING, DEFAULT_ESM_CLASS):
            raise InputError("only with --binary or --binary-column", field="data-coding")
        return None
    return api.BinaryPayload(
        args.binary or "", args.binary_column or "", args.data_coding, args.esm_class
    )


def _option_args(p: argparse.ArgumentParser) -> None:
    """The message options (core.options), refused when the gateway does not take one."""
    p.add_argument("--flash", action="store_true", help="flash SMS: shown at once, not stored")
    p.add_argument(
        "--language",
        default=None,
        metavar="CODE",
        help="national language table (TR, ES, PT) with --single-shift and/or --locking-shift",
    )
    p.add_argument("--single-shift", action="store_true", help="the language's single shift")
    p.add_argument("--locking-shift", action="store_true", help="the language's locking shift")
    p.add_argument(
        "--translit",
        default=None,
        metavar="TABLE",
        help="transliterated by the gateway: TURKISH, GREEK, CYRILLIC...",
    )
    p.add_argument(
        "--intermediate-reports",
        action="store_true",
        help="ask for intermediate delivery reports (messages move to pending)",
    )


def _options(args: argparse.Namespace) -> SendOptions:
    return send_options(
        flash=args.flash,
        transliteration=args.translit,
        language_code=args.language,
        single_shift=args.single_shift,
        locking_shift=args.locking_shift,
        intermediate_reports=args.intermediate_reports,
    )


def _optout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "remove", "import", "list", "upgrade"))
    p.add_argument(
        "items",
        nargs="*",
        metavar="NUMBER|FILE",
        help="add/remove: numbers; import: a CSV with a phone column",
    )
    p.add_argument("--reason", default="", help="why (kept with each number)")
    p.add_argument("--days", type=float, default=0, help="expire after this many days (0: never)")
    p.add_argument("--phone-column", default=None)
    p.set_defaults(func=_lazy("dispatcher.optouts", "command"))


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=LOOPBACK, help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_api)


def _apikey_args(p: argparse.ArgumentParser) -> None:
    from dispatcher.http.auth import SCOPES

    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--scope", choices=SCOPES, default="send")
    p.set_defaults(func=cmd_apikey)


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", type=Path, default=Path("examples/campaign.csv"))
    p.add_argument("--campaign", default=None, help="default demo-<time>")
    p.add_argument("--text", default="Hi {name}, your code is {code}. Reply STOP to opt out.")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--port", type=int, default=0, help="sandbox port (default: a free one)")
    p.add_argument(
        "--provider",
        default=config.DEFAULT_PROVIDER,
        help="the gateway whose sandbox the demo sends through",
    )
    p.set_defaults(func=_lazy("dispatcher.demo", "run"))


def _lazy(module: str, name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args) or 0)

    return handler


def _checked(chosen: Sequence[str] = ()) -> config.Settings:
    """The settings of a process that may send (worker, api, webhook, import): refused
    unless every provider they and the command (`chosen`) name exists and has its
    credentials set."""
    from providers import registry

    settings = config.load()
    registry.check(settings)
    config.require_credentials(
        settings, lambda name: registry.get(name).configured(settings), chosen
    )
    return settings


def _client(url: str) -> redis.Redis:
    return sync_redis(url, cluster=config.load().redis_cluster)


def cmd_import(args: argparse.Namespace) -> int:
    checked = _checked([args.provider] if args.provider else [])
    with embedded.redis_url() as url:
        settings = checked.with_overrides(redis_url=url)
        report = api.import_csv(
            args.file,
            campaign=args.campaign,
            text=args.text or "",
            sender=args.sender,
            phone_column=args.phone_column,
            delimiter=args.delimiter,
            rejects=args.rejects,
            settings=settings,
            progress=True,
            provider=args.provider,
            send_at=args.send_at,
            window=args.window,
            gsm_safe=args.gsm_safe,
            track_links=args.track_links,
            plan_hash=args.plan_hash,
            options=_options(args),
            binary=_binary(args),
        )
    _print_import(report, args.rejects or api.default_rejects(args.file))
    return 0


def _print_import(report: Any, rejects: Path) -> None:
    t = Table(title=f"import {report.campaign}")
    cols = ("rows", "valid", "invalid", "duplicates", "opted_out", "batches", "enqueued", "skipped")
    for col in cols:
        t.add_column(col, justify="right")
    t.add_row(*(str(getattr(report, c)) for c in cols))
    console.print(t)
    console.print(f"{report.seconds:.2f}s; rejects: {rejects}")
    _print_replaced(report.replaced)
    for line in report.rejects:
        console.print(f"  [yellow]{escape(line)}[/]")


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "plan",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("plan", total=None)
    big = args.file.exists() and args.file.stat().st_size >= PLAN_PROGRESS_BYTES
    with embedded.redis_url() as url, bar if big else contextlib.nullcontext():
        settings = config.load().with_overrides(redis_url=url)
        plan = api.plan_csv(
            args.file,
            text=args.text or "",
            sender=args.sender,
            phone_column=args.phone_column,
            delimiter=args.delimiter,
            settings=settings,
            provider=args.provider,
            send_at=args.send_at,
            window=args.window,
            gsm_safe=args.gsm_safe,
            track_links=args.track_links,
            options=_options(args),
            binary=_binary(args),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if args.json:
        sys.stdout.write(plan.to_json().decode() + "\n")
    else:
        _print_plan(plan)
    return 0


def _print_plan(p: Any) -> None:
    counts = Table(title=f"plan {p.file}")
    for col in ("rows", "valid", "invalid", "duplicates", "opted out", "SMS parts"):
        counts.add_column(col, justify="right")
    fields = ("rows", "valid", "invalid", "duplicates", "opted_out", "recipients_parts")
    counts.add_row(*(str(getattr(p, c)) for c in fields))
    console.print(counts)
    groups = Table(title="by country, encoding and parts")
    for col in ("country", "encoding", "parts each", "recipients", "SMS parts"):
        groups.add_column(col, justify="left" if col in ("country", "encoding") else "right")
    for key, g in p.groups.items():
        country, encoding, parts = key.split("|")
        groups.add_row(country, encoding, parts, str(g.recipients), str(g.parts))
    console.print(groups)
    console.print(escape(_binary_line(p) if p.binary else _text_line(p)))
    if p.links:
        targets = ", ".join(p.links)
        console.print(escape(f"tracked links: {targets} (parts counted with each short link)"))
    _print_changes(p)
    cost = ", ".join(f"{amount} {cur}" for cur, amount in p.cost.items()) or "nothing priced"
    console.print(f"cost: {cost} ({escape(p.prices)})")
    if p.unpriced_parts:
        console.print(f"[yellow]unpriced: {p.unpriced_parts} parts to {', '.join(p.unpriced)}[/]")
    _print_forecast(p.forecast)
    for line in p.rejects:
        console.print(f"  [yellow]{escape(line)}[/]")
    console.print(
        f"planned in {p.seconds:.2f}s; plan hash: [bold]{p.hash}[/] "
        f"(smsdispatch import ... --plan-hash {p.hash})"
    )


def _text_line(p: Any) -> str:
    text = f"text: {p.encoding}, {p.parts} part(s) without merged fields"
    if p.options:
        text += f"; options: {p.options}"
    if p.not_gsm:
        text += f"; UCS-2 because of {p.not_gsm!r}"
        if p.gsm_safe_would_fix:
            text += " (--gsm-safe would make it GSM-7)"
    return text


def _binary_line(p: Any) -> str:
    coding = f"data coding {p.binary['data_coding']}, ESM class {p.binary['esm_class']}"
    if p.parts:
        return f"binary: {coding}; one payload for all, {p.parts} part(s)"
    return f"binary: {coding}; a payload per row (their parts above)"


def _print_replaced(replaced: dict[str, int]) -> None:
    """What --gsm-safe replaced (import and plan), each look-alike with its count."""
    if replaced:
        done = ", ".join(f"{ch!r} x{n}" for ch, n in replaced.items())
        console.print(escape(f"--gsm-safe replaced: {done}"))


def _print_changes(p: Any) -> None:
    _print_replaced(p.replaced)
    if p.changed_encoding:
        chars = ", ".join(
            f"{ch!r} ({n} rows)" for ch, n in sorted(p.chars.items(), key=lambda kv: -kv[1])[:10]
        )
        console.print(
            escape(f"{p.changed_encoding} rows turn UCS-2 through merged fields: {chars}")
        )
        for e in p.examples_encoding[:PLAN_EXAMPLES]:
            console.print(escape(f"  line {e.line}: {e.encoding}, {e.parts} part(s), {e.chars!r}"))
    if p.changed_parts:
        console.print(f"{p.changed_parts} rows need more than {p.parts} part(s) once merged:")
        for e in p.examples_parts[:PLAN_EXAMPLES]:
            console.print(f"  line {e.line}: {e.parts} parts")


def _print_forecast(f: Any) -> None:
    if f.rate_per_s is None:
        console.print("time to send: no SMS_RATE set, so it depends on workers and gateway")
    elif f.seconds is not None:
        console.print(
            f"time to send: {f.seconds:.0f}s at {f.rate_per_s:g} parts/s "
            f"(from {f.start}, done {f.finish}; {f.busy_rate_per_s:g}/s "
            "while OTPs use their share)"
        )
    if f.window:
        console.print(f"delivery window: {f.window} in each recipient's time")
    if f.miss_validity:
        console.print(
            f"[bold red]{f.miss_validity} messages would miss their validity "
            f"(ends {f.validity_end})[/]"
        )


def cmd_status(args: argparse.Namespace) -> int:
    with embedded.redis_url() as url:
        st = control.status(_client(url), args.campaign)
    if args.json:
        sys.stdout.write(orjson.dumps(st, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    t = Table(title=f"campaign {args.campaign}")
    t.add_column("state")
    t.add_column("messages", justify="right")
    for state, n in st["counts"].items():
        t.add_row(state, str(n))
    console.print(t)
    console.print(f"kind: {st['kind']}")
    console.print(
        f"messages: {st['messages']} = sent {st['sent']} + ended unsent {st['ended_unsent']}"
        f" + unknown {st['unknown']} + in flight {st['in_flight']} ({st['progress']:.1%} settled)"
    )
    for k in ("invalid", "duplicates", "opted_out", "parked_batches"):
        console.print(f"{k}: {st.get(k, 0)}")
    for reason, n in st["waiting"].items():
        console.print(f"waiting, {reason}: {_waits(n)}")
    console.print(f"awaiting_report: {st.get('awaiting_report', 0)}")
    if st.get("unknown"):
        console.print(
            f"unknown: {st['unknown']} held: the gateway may have them "
            f"(smsdispatch unknown list|resend|drop {args.campaign})"
        )
    for provider, n in st.get("accepted_by_provider", {}).items():
        console.print(f"accepted by {provider}: {n}")
    if (clicks := st.get("clicks", {})).get("tracked"):
        console.print(
            f"clicks: {clicks['total']} on {clicks['messages']} messages "
            f"({clicks['rate']:.1%} of those sent clicked)"
        )
    _print_errors(st.get("top_errors", []))
    console.print(f"state: {st['state']}")
    if st["scheduled_batches"]:
        console.print(f"scheduled batches: {st['scheduled_batches']}")
    if st["paused"] and st["state"] != "canceled":
        console.print(
            f"[bold yellow]paused:[/] {st['paused']}  (smsdispatch resume {args.campaign})"
        )
    return 0


def _waits(n: int | dict[str, Any]) -> str:
    """One `waiting` entry of the status as words."""
    if not isinstance(n, dict):
        return str(n)
    words = [f"{k.replace('_', ' ')} {v}" for k, v in n.items() if v not in ("", 0)]
    return ", ".join(words)


def cmd_campaigns(args: argparse.Namespace) -> int:
    import time

    with embedded.redis_url() as url:
        client = _client(url)
        rows = [control.listed(control.status(client, c)) for c in control.campaigns(client)]
    rows = [r for r in rows if not args.state or r["state"] == args.state]
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    t = Table(title="campaigns")
    for col in control.LISTED:
        t.add_column(col, justify="right" if col in ("messages", "progress") else "left")
    for r in rows:
        when = time.localtime(r["created"])
        created = time.strftime("%Y-%m-%d %H:%M", when) if r["created"] else ""
        progress = f"{r['progress']:.1%}"
        t.add_row(r["campaign"], r["kind"], r["state"], str(r["messages"]), progress, created)
    console.print(t)
    return 0


def _print_errors(errors: list[dict[str, Any]]) -> None:
    if not errors:
        return
    t = Table(title="top errors")
    for col in ("status", "error", "error name", "messages"):
        t.add_column(col, justify="right" if col == "messages" else "left")
    for e in errors:
        t.add_row(e["status"], e["error"], e["error_name"], str(e["count"]))
    console.print(t)


def cmd_resume(args: argparse.Namespace) -> int:
    with embedded.redis_url() as url:
        settings = config.load().with_overrides(redis_url=url)
        enqueue, policy = api.enqueuer(settings), settings.stream_policy
        size = settings.batch_size
        answer = control.resume_if_paused(_client(url), enqueue, args.campaign, size, "", policy)
    console.print(answer["message"])
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    with embedded.redis_url() as url:
        new = control.pause_campaign(_client(url), args.campaign)
    console.print(f"paused {args.campaign}" if new else f"{args.campaign} was already paused")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:

    with embedded.redis_url() as url:
        settings = config.load().with_overrides(redis_url=url)
        policy = settings.stream_policy
        n = control.cancel(_client(url), api.enqueuer(settings), args.campaign, policy)
    console.print(f"canceled {args.campaign}: {n} messages ended now, the rest when met")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import logging

    from dispatcher.http import app as http_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = _checked()
    with embedded.redis_url() as url:
        http_app.run(args.host, args.port, settings.with_overrides(redis_url=url))
    return 0


def cmd_apikey(args: argparse.Namespace) -> int:
    from dispatcher.http import auth

    with embedded.redis_url() as url:
        client = _client(url)
        if args.action == "list":
            for row in auth.list_keys(client):
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            return 0
        if not args.name:
            raise InputError(f"apikey {args.action} needs a NAME", field="NAME")
        if args.action == "revoke":
            n = auth.revoke(client, args.name)
            console.print(f"revoked {n} key(s) named {args.name}")
            return 0
        key = auth.create(client, args.name, args.scope)
    console.print(f"API key {args.name!r} ({args.scope}); shown once, only its hash is kept:")
    sys.stdout.write(key + "\n")
    return 0


def cmd_parked(args: argparse.Namespace) -> int:
    from core import pause

    with embedded.redis_url() as url:
        client = _client(url)
        control.known(client, args.campaign)
        if args.action == "list":
            for row in pause.parked(client, args.campaign):
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            return 0
        if not args.message_ids:
            raise InputError("name the messageIds to drop", field="MESSAGE_ID")
        settings = config.load().with_overrides(redis_url=url)
        policy = settings.stream_policy
        n = pause.drop(client, api.enqueuer(settings), args.campaign, args.message_ids, policy)
        detail = f"dropped={n} of={','.join(args.message_ids)}"
        audit.record(client, audit.cli_user(), "parked drop", args.campaign, detail)
    console.print(f"dropped {n} of {len(args.message_ids)} from {args.campaign}'s parked batches")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    with embedded.redis_url() as url:
        client = _client(url)
        if args.action == "list":
            for row in control.deadletters(client, args.campaign):
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            return 0
        settings = config.load().with_overrides(redis_url=url)
        n = control.replay(
            client,
            api.enqueuer(settings),
            args.campaign,
            settings.validity_minutes,
            settings.stream_policy,
        )
    console.print(f"replayed {n} dead messages")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= audit.READ_LIMIT:
        raise InputError(f"--limit must be 1 to {audit.READ_LIMIT}", field="--limit")
    with embedded.redis_url() as url:
        for row in audit.read(_client(url), args.campaign, args.limit):
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
    return 0


def cmd_unknown(args: argparse.Namespace) -> int:
    from dispatcher import unknowns

    who = audit.cli_user()
    with embedded.redis_url() as url:
        client = _client(url)
        if args.action == "list":
            for row in unknowns.listing(client, args.campaign):
                sys.stdout.write(orjson.dumps(row).decode() + "\n")
            return 0
        settings = config.load().with_overrides(redis_url=url)
        ids = args.message_ids or None
        if args.action == "resend":
            enqueue, policy = api.enqueuer(settings), settings.stream_policy
            minutes = settings.validity_minutes
            n = unknowns.resend(client, enqueue, args.campaign, ids, minutes, policy, who)
        else:
            n = unknowns.drop(client, args.campaign, ids, settings.stream_policy, who)
    done = "resent" if args.action == "resend" else "dropped"
    console.print(f"{done} {n} unknown messages of {args.campaign}")
    return 0


MAX_NICE = 19


def _niceness(raw: str) -> int:
    """--nice: 0 to MAX_NICE (raising a priority needs root; lowering it does not)."""
    if not raw.isdigit() or int(raw) > MAX_NICE:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_NICE}, got {raw[:20]!r}")
    return int(raw)


def cmd_worker(args: argparse.Namespace) -> int:
    """exec dramatiq when REDIS_URL is set (signals reach it directly); with an embedded
    Redis, run it as a child, forward SIGTERM, and stop the embedded server after it."""
    from core.queues import dramatiq_env

    production = bool(os.environ.get("REDIS_URL"))
    checked = _checked()  # before anything starts: the workers would refuse the same way
    with embedded.redis_url(start=True) as url:
        settings = checked.with_overrides(redis_url=url)
        cmd = worker_command(
            args.processes or settings.worker_processes,
            args.threads or settings.worker_threads,
            args.queues,
            settings.shutdown_timeout_ms,
            args.nice,
        )
        env = dramatiq_env({**os.environ, "REDIS_URL": url})
        if production:
            os.execve(cmd[0], cmd, env)
        proc = subprocess.Popen(cmd, env=env)
        signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the terminal's whole group got it: dramatiq stops too,
            proc.wait()  # and the embedded Redis outlives its workers
            raise


def check_sandbox(provider: str) -> None:
    """A ConfigError unless there is a sandbox of `provider`."""
    from sandbox import server

    if provider not in server.APPS:
        raise ConfigError(
            "--provider",
            f"no sandbox for {provider!r}; there are: {', '.join(sorted(server.APPS))}",
        )


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox import server
    from sandbox.settings import update

    check_sandbox(args.provider)
    settings = server.default_settings(args.provider)
    if args.config:
        try:
            update(settings, orjson.loads(args.config))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise ConfigError("SANDBOX_CONFIG", str(exc)) from None
    server.run(args.host, args.port, settings, args.provider)
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    import logging

    from dispatcher.reports import webhook

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    checked = _checked()
    with embedded.redis_url() as url:
        settings = checked.with_overrides(redis_url=url)
        if not (settings.webhook_username and settings.webhook_password):
            console.print("[bold red]WARNING: WEBHOOK_USERNAME/WEBHOOK_PASSWORD are not set[/]")
        webhook.run(args.host, args.port, settings, insecure_no_auth=args.insecure_no_auth)
    return 0


def cmd_reports_poll(args: argparse.Namespace) -> int:
    import asyncio

    with embedded.redis_url() as url:
        settings = config.load().with_overrides(redis_url=url)
        return asyncio.run(_poll(settings, args))


async def _poll(settings: config.Settings, args: argparse.Namespace) -> int:
    """Poll each provider asked for (default: every configured one) every `--interval`
    seconds, all at once; `--once`: one round (exit 1 if a provider's round stopped early)."""
    import asyncio

    import aiohttp

    from dispatcher.reports.poller import Poller, pullable
    from providers import registry

    names = args.provider or [n for n in registry.names() if registry.get(n).configured(settings)]
    if not names:
        raise ConfigError("--provider", "no provider is configured (credentials unset)")
    client = async_redis(settings.redis_url, cluster=settings.redis_cluster)
    try:
        async with aiohttp.ClientSession() as session:
            if args.logs:
                kept = [name for name in names if pullable(name)]
                if not kept:
                    raise ConfigError("--provider", "no provider asked keeps message logs")
                for name in kept:
                    poller = Poller(client, session, settings, name, limit=args.limit)
                    seen = await poller.logs(args.logs)
                    console.print(f"{name}: {seen} reports from its message logs")
                return 0
            rounds = [_poll_round(client, session, settings, args, name) for name in names]
            while True:
                stopped = [why for why in await asyncio.gather(*(r() for r in rounds)) if why]
                if args.once:
                    return 1 if stopped else 0
                await asyncio.sleep(args.interval)
    finally:
        await client.aclose()


def _poll_round(
    client: Any, session: Any, settings: config.Settings, args: argparse.Namespace, name: str
) -> Callable[[], Awaitable[str]]:
    """One provider's round (one that keeps its reports: pull them; the others: ask their
    status reader), which prints what it did and returns why it stopped early ("" if it
    did not)."""
    from dispatcher.reports import poller, status_poll

    if poller.pullable(name):
        puller = poller.Poller(client, session, settings, name, limit=args.limit)

        async def pull() -> str:
            console.print(f"{name}: {await puller.poll_once()} reports applied")
            return ""

        return pull
    asker = status_poll.StatusPoller(client, session, settings, name)  # ConfigError if it cannot

    async def ask() -> str:
        done = await asker.poll_once()
        console.print(escape(str(done)))
        return done.error

    return ask


def cmd_reports_sweep(args: argparse.Namespace) -> int:
    import time

    from dispatcher.reports.sweep import sweep

    with embedded.redis_url() as url:
        settings = config.load().with_overrides(redis_url=url)
        policy = settings.stream_policy
        grace = settings.expiry_grace if args.grace is None else args.grace
        campaigns = [args.campaign] if args.campaign else None
        while True:
            n = sweep(_client(url), policy, grace, campaigns)
            console.print(f"{n} messages marked expired")
            if not args.interval:
                return 0
            time.sleep(args.interval)


def cmd_reports_relay(args: argparse.Namespace) -> int:
    import time

    from core.outbox import relay_all

    with embedded.redis_url() as url:
        policy, client = config.load().with_overrides(redis_url=url).stream_policy, _client(url)
        while True:
            n = relay_all(client, policy)
            if not args.interval:
                console.print(f"{n} events relayed")
                return 0
            time.sleep(args.interval if not n else 0)


def cmd_export(args: argparse.Namespace) -> int:
    from dispatcher.reports.export import export

    with embedded.redis_url() as url:
        client = _client(url)
        control.known(client, args.campaign)
        if str(args.csv) == "-":
            n = export(client, args.campaign, sys.stdout)
        else:
            with args.csv.open("w", encoding="utf-8", newline="") as fh:
                n = export(client, args.campaign, fh)
    console.print(f"exported {n} messages of {args.campaign} to {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
