"""Delivery-report latency: from the gateway's send to the handset's answer, per campaign.

Taken from each final report that carries both times (`sentAt`/`doneAt` of ANTS,
`send_date`/`last_date` of SMSC.ru; ISO 8601 or epoch seconds); a report without them
is not counted.  Each campaign keeps a small histogram in `sms:c:{id}:dlr`
(bucket upper bound in seconds -> count, plus `sum` and `count`), which the
operations page and `GET /v1/campaigns/{id}` read; the webhook also exports it to
Prometheus as `sms_dlr_latency_seconds`.  A report the gateway repeats counts again:
the figure is a latency estimate, not a message count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core import ids, keys
from providers.reports import DeliveryReport

BUCKETS_S = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
INF = "+Inf"
KEEP_S = 30 * 86400  # a campaign's histogram outlives its messages


def _when(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    for form in (None, "%d.%m.%Y %H:%M:%S", "%d.%m.%y %H:%M:%S"):
        try:
            at = datetime.fromisoformat(text) if form is None else datetime.strptime(text, form)
        except ValueError:
            continue
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return None


def seconds(report: DeliveryReport) -> float | None:
    """The report's latency in seconds, or None when it is not final or lacks a time."""
    if not report.final:
        return None
    sent, done = _when(report.sent_at), _when(report.done_at)
    if sent is None or done is None or done < sent:
        return None
    return done - sent


def bucket(latency: float) -> str:
    i = bisect.bisect_left(BUCKETS_S, latency)
    return str(BUCKETS_S[i]) if i < len(BUCKETS_S) else INF


def observe(pipe: Any, reports: Iterable[DeliveryReport]) -> list[float]:
    """Add the reports' latencies to their campaigns' histograms (on `pipe`, sync or
    async); returns them (for Prometheus)."""
    seen = []
    for r in reports:
        if (s := seconds(r)) is None:
            continue
        key = keys.campaign_dlr(ids.campaign_of(r.message_id))
        pipe.hincrby(key, bucket(s), 1)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", s)
        pipe.expire(key, KEEP_S)
        seen.append(s)
    return seen


def summary(raw: Mapping[bytes | str, bytes | str]) -> dict[str, Any]:
    """{count, mean_s, p50_s, p95_s} from a campaign's histogram (upper bucket bounds)."""
    data = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
    count = int(data.pop("count", 0))
    total = data.pop("sum", 0.0)
    if not count:
        return {"count": 0, "mean_s": None, "p50_s": None, "p95_s": None}
    bounds = [*BUCKETS_S, float("inf")]
    counts = [data.get(str(b), 0.0) for b in BUCKETS_S] + [data.get(INF, 0.0)]

    def quantile(q: float) -> float | None:
        need, run = q * count, 0.0
        for bound, n in zip(bounds, counts, strict=True):
            run += n
            if run >= need:
                return None if bound == float("inf") else float(bound)
        return None

    return {
        "count": count,
        "mean_s": round(total / count, 3),
        "p50_s": quantile(0.5),
        "p95_s": quantile(0.95),
    }
