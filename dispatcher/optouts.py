"""`smsdispatch optout`: the opt-out list from the command line (core/optout.py keeps it).

    smsdispatch optout add 0812345678 +447911123456 --reason "asked by phone"
    smsdispatch optout remove 0812345678
    smsdispatch optout import stop-list.csv --reason "STOP replies" [--days 365]
    smsdispatch optout list            one JSON object a line
    smsdispatch optout upgrade         adopt the set kept before reasons were (sms:suppressed)

Numbers are normalised as the import does (SMS_REGION), so `0812345678` and
`66812345678` are one entry.  A bad number is an error naming it; in a file, a bad
row is reported with its line and the rest is taken.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

from config import settings as config
from core import optout
from core.errors import InputError
from core.redis_pool import sync_redis
from dispatcher import audit, embedded
from dispatcher.csvsource import CsvSource, Reject, Row, open_text
from dispatcher.numbers import normalise

console = Console(stderr=True)
IMPORT_CHUNK = 5_000
SHOWN_REFUSED = 5  # refused rows printed; the rest are counted


def command(args: argparse.Namespace) -> int:
    with embedded.redis_url() as url:
        s = config.load().with_overrides(redis_url=url)
        client = sync_redis(url, cluster=s.redis_cluster)
        if args.action == "list":
            for entry in optout.listing(client):
                sys.stdout.write(orjson.dumps(entry.as_dict()).decode() + "\n")
            return 0
        if args.action == "upgrade":
            n = optout.adopt_legacy(client, s.optout_learned_days)
            console.print(f"{n} numbers moved from the old suppression set")
            return 0
        if not args.items:
            raise InputError(f"optout {args.action} needs {_wanted(args.action)}", field="NUMBER")
        who = audit.cli_user()
        if args.action == "import":
            added = _import(client, s.region, args)
            audit.record(client, who, "optout import", detail=f"{args.items[0]}: {added} added")
            return 0
        numbers = [_number(raw, s.region) for raw in args.items]
        if args.action == "remove":
            n = optout.remove(client, numbers)
            audit.record(client, who, "optout remove", detail=f"{n}: {' '.join(numbers)}")
            console.print(f"{n} of {len(numbers)} numbers removed")
            return 0
        entries = optout.entries_for(numbers, optout.MANUAL, args.reason, days=args.days)
        n = optout.add(client, entries)
        detail = f"{n} ({args.reason}): {' '.join(numbers)}"
        audit.record(client, who, "optout add", detail=detail)
        console.print(f"{n} of {len(numbers)} numbers added")
    return 0


def _wanted(action: str) -> str:
    return "a FILE" if action == "import" else "one NUMBER or more"


def _number(raw: str, region: str) -> str:
    try:
        return normalise(raw, region)
    except InputError as exc:
        raise InputError(f"{raw!r}: {exc.reason}", field="NUMBER") from None


def _import(client: Any, region: str, args: argparse.Namespace) -> int:
    path = Path(args.items[0])
    reason = args.reason or f"imported from {path.name}"
    taken = added = refused = 0
    chunk: list[str] = []
    with open_text(path) as fh:
        source = CsvSource(fh, name=str(path), phone_column=args.phone_column)
        for item in source:
            try:
                chunk.append(_row_number(item, source.phone_index, region))
            except InputError as exc:
                refused += 1
                if refused <= SHOWN_REFUSED:
                    console.print(
                        f"[yellow]{escape(path.name)} line {item.line}: {escape(exc.reason)}[/]"
                    )
                continue
            if len(chunk) >= IMPORT_CHUNK:
                added += _add(client, chunk, reason, args.days)
                taken, chunk = taken + len(chunk), []
        added += _add(client, chunk, reason, args.days)
        taken += len(chunk)
    console.print(f"{taken} numbers taken from {path} ({added} new), {refused} rows refused")
    return added


def _row_number(item: Row | Reject, phone_index: int, region: str) -> str:
    if isinstance(item, Reject):
        raise InputError(item.reason, field=item.field)
    return normalise(item.fields[phone_index], region)


def _add(client: Any, numbers: list[str], reason: str, days: float) -> int:
    if not numbers:
        return 0
    return optout.add(client, optout.entries_for(numbers, optout.IMPORT, reason, days=days))
