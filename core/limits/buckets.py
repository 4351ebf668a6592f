"""The GCRA throughput buckets of an account: which buckets a message's parts count against.

Every message counts against the one `account` bucket (the account rate and burst).
Transactional share s > 0 (the `transactional` queue and the OTP API) is a priority,
not a split:

* campaign traffic asks `account` leaving `reserve` = ceil(burst * s) units of its
  burst free, so an OTP always finds room at once, yet campaigns get the whole rate
  while no OTP comes (an idle transactional share is lent, not wasted);
* transactional traffic asks `account` with no reserve, after its own cap
  `account:transactional` at rate * s, so it can never take more than its share
  and campaigns keep at least rate * (1 - s).

With s = 0 (or no burst to reserve from) every message asks `account` alike.  A
per-sender rate is a bucket of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.limits.spec import Rate

DEFAULT_BURST_SHARE = 0.1  # no burst given: a tenth of a second's worth of the rate
ACCOUNT = "account"
TRANSACTIONAL_BUCKET = f"{ACCOUNT}:transactional"  # the transactional share's cap


@dataclass(frozen=True, slots=True)
class Bucket:
    """One GCRA throughput limit: `rate` parts (plus `burst`) in the bucket `name`."""

    name: str
    rate: Rate
    burst: int
    reserve: int = 0  # units of the burst left free for higher-priority traffic

    @property
    def burst_ms(self) -> float:
        return (self.burst - self.reserve) * self.rate.emission_us / 1000


def scaled(rate: Rate, share: float) -> Rate:
    """`share` of `rate` (0 < share <= 1), as a longer window for the same attempts."""
    return Rate(rate.attempts, max(1, round(rate.window_ms / share)))


def default_burst(rate: Rate) -> int:
    return max(1, round(rate.per_second * DEFAULT_BURST_SHARE))


def account_buckets(
    rate: Rate | None, burst: int | None, share: float, transactional: bool
) -> list[Bucket]:
    """The account buckets campaign or transactional traffic asks, in order (none: no
    account rate); see the module docstring."""
    if rate is None:
        return []
    burst = burst if burst is not None else default_burst(rate)
    if share == 0:
        return [Bucket(ACCOUNT, rate, burst)]
    if not transactional:
        return [Bucket(ACCOUNT, rate, burst, reserve=math.ceil(burst * share))]
    cap = Bucket(TRANSACTIONAL_BUCKET, scaled(rate, share), max(1, math.ceil(burst * share)))
    return [cap, Bucket(ACCOUNT, rate, burst)]


def sender_bucket(rate: Rate | None, sender: str) -> Bucket | None:
    return None if rate is None else Bucket(f"sender:{sender}", rate, default_burst(rate))
