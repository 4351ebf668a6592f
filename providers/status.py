"""Delivery states by polling: what a provider's status reader is (`Spec.status`).

A gateway that can be asked about the messages it took (SMSC.ru's `status.php`,
SmsManager's `/RequestStatus`) registers a reader: `Spec.status(session, settings)`.
`smsdispatch reports poll` (dispatcher.reports.status_poll) finds the messages waiting for
a report, the *ref* the worker kept for each (core.refs: where that gateway knows it), and
hands the reader `Asked` items, at most `refs_per_read` distinct refs at once; whatever
the reader answers is applied as a delivery report (forward only, deduplicated).

A reader's limits are facts of its gateway, stated once in its module: `rate` is how many
`read`s an account may make in a window (one `read` is one *mass* request for SMSC.ru),
shared by every process polling that account (a Redis limiter enforces it); `None` when
the gateway states none.  The worker's lookups (`Provider.lookup`, asked about unknown
outcomes) are status requests too: `Profile.status_rate` names the same limit, and both
take their turn through `turn` under one key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.limits.limiter import AsyncLimiter
from core.limits.spec import Limit
from providers.reports import DeliveryReport

LIMIT_SUFFIX = ":status"  # the limiter of a provider's status requests: `{provider}:status`
NO_BURST = 0  # a stated rate is never exceeded, not even at the start


@dataclass(frozen=True, slots=True)
class Asked:
    """One message waiting for a report, and where its gateway knows it."""

    message_id: str  # ours
    ref: str  # what the worker kept to ask about it (core.refs)
    to: str  # its number, as we sent it
    state: str = "accepted"  # its state now: accepted or pending (the poller's business)


class StatusReader(Protocol):
    """Asks a gateway what became of messages it took."""

    refs_per_read: int  # distinct refs one `read` may carry
    rate: Limit | None  # `read`s per account in a window, across processes (None: no limit)

    def usable(self, ref: str) -> bool:
        """Whether this ref names a message the reader can ask about (an older kind of ref,
        e.g. a provider id kept before the gateway's own request id was, is not)."""

    async def read(self, asked: Sequence[Asked]) -> list[DeliveryReport]:
        """What the gateway says of these messages, one report per message it knows,
        `message_id` ours; a message it does not know (or not yet) has none.  A whole
        request refused or unreadable raises its GatewayError."""


ReaderFactory = Callable[[Any, Any], StatusReader]  # (aiohttp session, Settings) -> reader


async def turn(limiter: AsyncLimiter, provider: str, rate: Limit | None) -> int:
    """Take one status request of `provider`'s account-wide `rate` (every process shares
    it): 0 when it may go now, else how many ms until it may (nothing was taken)."""
    if rate is None:
        return 0
    name = provider + LIMIT_SUFFIX
    return (await limiter.throughput(name, rate, NO_BURST, [1]))[0]
