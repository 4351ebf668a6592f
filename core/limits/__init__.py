"""Limits the workers obey before they call a gateway: throughput, anti-flooding, OTP, concurrency.

Everything is decided by Lua scripts in this folder (`gcra.lua`,
`sliding_window.lua`, `semaphore.lua`), loaded by name (`scripts.py`) and sent
with EVALSHA (NOSCRIPT falls back on loading the source).  Every script

* takes the time from Redis `TIME`, never from the caller, so workers with
  skewed clocks agree;
* is atomic and decides a whole batch (e.g. 1,000 destinations) in ONE call
  (flooding: in calls of `plan.FLOOD_CHUNK` items, which decide as one would, so
  no call holds Redis for long);
* answers, per item, a wait in milliseconds: 0 = allowed now (and counted),
  n > 0 = refused, try again in n ms.

Throughput: GCRA, cost = SMS parts
----------------------------------
An account may send `Rate` units per window (e.g. `200/1s`), where a message
costs as many units as the parts the gateway bills (`core.sms.count_parts`:
a 3-part message costs 3).  GCRA keeps a single number per account, the
theoretical arrival time (TAT), and admits an item when TAT + cost * interval
stays within (burst + 1) * interval of now.  The burst is explicit and bounded:
a fresh bucket admits burst + 1 units, then items are paced one interval apart.
dramatiq's own rate limiters are not used: `BucketRateLimiter` counts in
fixed buckets, so a full bucket can go out at the end of one bucket and again
at the start of the next (twice the rate in a burst, as its own docs warn);
`WindowRateLimiter` works in whole seconds (no `200/1s` pacing inside the
second, nothing finer than 1 s); both take the time from the worker's clock,
acquire one unit per round trip (no weight for a 3-part message, no batch) and
answer only yes/no, never when to retry.  Within a batch ORDER IS KEPT: once
an item is refused, the rest are refused with cumulative waits (when each would
conform if the refused ones went first), so the worker can schedule them.

Flooding and OTP: exact sliding logs
------------------------------------
The gateway's anti-flooding rule (20 varied / 6 identical messages per number
per hour) and the ANTS 2FA limits (`3/1d` sends per phone, `10000/1d` per
application, `1/3s` verifications) are caps per any window: messages over them
are refused by the gateway.  A token bucket refilled at limit/window lets a
full bucket through at once and then keeps refilling: up to about twice the
limit inside one window (6 identical messages at 12:00 and, as the bucket
refills, nearly 6 more by 12:59), and a fixed window does the same across its
boundary.  So these use exact sliding logs: a ZSET of timestamps
per key, trimmed on each call; an item passes only when every one of its
windows has room, and is then logged in all of them; a refused item waits until
the entry that blocks it leaves the window.  Sizes stay small (at most `limit`
live entries per key; 10,000 for the per-application OTP log is fine).
Entries are taken when an item is allowed, so if a later check (throughput)
or the gateway then does not send it, the slot stays used: the logs err on the
side of sending fewer, never more.

Concurrency: semaphore
----------------------
A counting semaphore per gateway account (SMSC.ru refuses five concurrent
requests): a ZSET holder -> expiry; a dead worker's slot expires by itself.

API: `Limiter` (sync) and `AsyncLimiter` (asyncio) in `limiter.py`, limit
specs (`Limit`, `Rate`, `parse_duration`) in `spec.py`.  Redis keys come from
`core.keys` (`sms:rl:*`, `sms:otp:*`).  The scripts use keys computed per
item, so they assume a single Redis (not Redis Cluster).
"""

from core.limits.limiter import AsyncLimiter, Limiter
from core.limits.spec import Limit, Rate, parse_duration

__all__ = [
    "AsyncLimiter",
    "Limit",
    "Limiter",
    "Rate",
    "parse_duration",
]
