"""The GCRA throughput buckets of an account: which bucket a message's parts count against.

Transactional share: with share s > 0 the account rate is split into two buckets,
`account:campaign` at rate * (1 - s) and `account:transactional` at rate * s (the
`transactional` queue and the OTP API), so the two never exceed the account rate
together and no amount of campaign traffic can take the transactional share.  With
s = 0 both share one bucket, `account`.  A per-sender rate is a bucket of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.limits.spec import Rate

DEFAULT_BURST_SHARE = 0.1  # no burst given: a tenth of a second's worth of the rate
ACCOUNT = "account"
CAMPAIGN_BUCKET = f"{ACCOUNT}:campaign"
TRANSACTIONAL_BUCKET = f"{ACCOUNT}:transactional"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One GCRA throughput limit: `rate` parts (plus `burst`) in the bucket `name`."""

    name: str
    rate: Rate
    burst: int

    @property
    def burst_ms(self) -> float:
        return self.burst * self.rate.emission_us / 1000


def scaled(rate: Rate, share: float) -> Rate:
    """`share` of `rate` (0 < share <= 1), as a longer window for the same attempts."""
    return Rate(rate.attempts, max(1, round(rate.window_ms / share)))


def default_burst(rate: Rate) -> int:
    return max(1, round(rate.per_second * DEFAULT_BURST_SHARE))


def account_bucket(rate: Rate | None, burst: int | None, share: float,
                   transactional: bool) -> Bucket | None:  # fmt: skip
    """The account bucket for campaign or transactional traffic (None: no account rate)."""
    if rate is None:
        return None
    burst = burst if burst is not None else default_burst(rate)
    if share == 0:
        return Bucket(ACCOUNT, rate, burst)
    part = share if transactional else 1 - share
    name = TRANSACTIONAL_BUCKET if transactional else CAMPAIGN_BUCKET
    return Bucket(name, scaled(rate, part), int(burst * part))


def sender_bucket(rate: Rate | None, sender: str) -> Bucket | None:
    return None if rate is None else Bucket(f"sender:{sender}", rate, default_burst(rate))
