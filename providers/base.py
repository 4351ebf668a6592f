"""What every provider shares: the verdict on one gateway answer, and the code-table row.

A provider folder (`providers/ants/`, `providers/smsmanager/`, `providers/smsc/`)
holds its sender, its delivery-report parser and its code table *as data*.
Each table row is a `CodeRow`; classifying an answer gives a `Verdict`, and the
verdict itself says what the worker must do (`Action`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple, Protocol

from core.batch import Batch


class Action(StrEnum):
    """What the worker does with one destination after the gateway answered."""

    ACCEPTED = "accepted"  # gateway took it (or delivered it): done sending
    ALREADY_DONE = "already_done"  # duplicate messageId: the gateway already has it
    RETRY = "retry"  # transient: resend later, counts as an attempt
    THROTTLED = "throttled"  # slow down: resend later, not counted as a failure
    PERMANENT = "permanent"  # this recipient can never get it: fail, maybe suppress
    FATAL = "fatal"  # the account cannot send: pause the campaign


@dataclass(frozen=True, slots=True)
class CodeRow:
    """One row of a provider's code table."""

    code: str
    name: str
    action: Action
    description: str = ""
    suppress: bool = False  # add the number to the suppression set
    final: bool = True  # the gateway will not change this state later
    group: str = ""  # the gateway's group for this code (e.g. "REJECTED", "HANDSET_ERRORS")
    permanent: bool | None = None  # the gateway's own permanent flag, where it has one
    retry_after: float | None = None  # seconds to wait before resending, if the row says
    http_status: int | None = None  # the HTTP status the gateway documents with this code
    # a FATAL code that may concern one destination only (e.g. no route to its network): it
    # pauses the campaign only when every destination of the request got it
    per_destination: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one answer for one destination."""

    action: Action
    code: str = ""
    name: str = ""
    description: str = ""
    permanent: bool = False
    suppress: bool = False
    retry_after: float | None = None
    per_destination: bool = False  # see CodeRow.per_destination

    @property
    def retryable(self) -> bool:
        return self.action in (Action.RETRY, Action.THROTTLED)

    @property
    def sent(self) -> bool:
        return self.action in (Action.ACCEPTED, Action.ALREADY_DONE)


# A gateway that takes a batch in several requests (one per text) sends them within ONE
# time budget, the request timeout from the start of `send`, so that the whole send is
# over before the worker's claims can settle (workers.claims): a request that cannot start
# with MIN_BUDGET_S (or a third of the timeout) left is not sent in this run.
MIN_BUDGET_S = 5.0
NOT_IN_TIME = Verdict(
    Action.THROTTLED,
    "",
    "NOT_SENT_IN_TIME",
    "not sent: the batch's time budget ran out before its turn",
)


def budget_s(timeout_s: float) -> float:
    """The least time left that a batch's next request may start with."""
    return min(MIN_BUDGET_S, timeout_s / 3)


State = Literal["accepted", "pending", "delivered", "undeliverable", "expired", "rejected"]


class StateRow(NamedTuple):
    """One gateway state code: its name, our normalized state, and whether it is final."""

    name: str
    state: State
    final: bool


@dataclass(frozen=True, slots=True)
class Result:
    """The gateway's answer for one destination (of a send, or of a lookup)."""

    message_id: str
    to: str
    verdict: Verdict
    group: str = ""
    sms_count: int = 0
    provider_id: str = ""  # the gateway's own id for it, when not our messageId (see Spec.own_ids)
    # a lookup found it taken and already final: its delivery state ("delivered",
    # "undeliverable", "expired", "rejected"), recorded after `accepted` (never `failed`)
    state: str = ""
    # what the gateway gave us to ask about it later (SmsManager: its requestId), kept by the
    # worker for `reports poll` (core.refs); "" keeps `provider_id` there instead
    poll_ref: str = ""


class Provider(Protocol):
    """What the worker needs from a gateway; generic code never names one."""

    async def send(self, batch: Batch) -> list[Result]:
        """Send the batch; per-destination results, or a GatewayError for the whole request.

        A destination missing from the results has an unknown outcome."""

    async def lookup(self, batch: Batch) -> dict[str, Result]:
        """What the gateway took of these destinations, by messageId (absent: not taken).

        Asked before resending anything whose outcome is unknown (see workers.claims)."""

    def provider_ids(self, batch: Batch) -> dict[str, str]:
        """The gateway's own id of each destination, by messageId, when it does not know
        ours (`Spec.own_ids`); {} otherwise.  Deterministic: the worker keeps them before
        the request leaves, so a delivery report is never faster than its translation."""
