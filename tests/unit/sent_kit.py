"""Messages as a worker leaves them while their request is out: a send claim each.

A delivery report is applied only to a message we sent (a ledger state or a send claim:
dispatcher.reports.ingest); tests that post a report before any worker wrote a state
claim the message first, as the worker would have before its request left."""

from __future__ import annotations

from typing import Any

from core import ledger

TOKEN = "a-run"


def in_flight(client: Any, *message_ids: str, stamp: int = 1) -> None:
    """Send claims on these messages (a sync client)."""
    pipe = client.pipeline(transaction=False)
    for mid in message_ids:
        p = ledger.place(mid)
        pipe.hset(p.claim_key, p.field, f"{TOKEN}:{stamp}|ants|0|{mid}")
    pipe.execute()
