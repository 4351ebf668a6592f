"""A dry run of an import (`smsdispatch plan`, `POST /v1/campaigns?dry_run=true`).

It reads the file as the import does (the same `RowCheck`, the same duplicate check,
the same opt-out list) and sends nothing, enqueues nothing and writes nothing to any
campaign.  It tells:

- rows: valid (would be sent), invalid, duplicate, opted out;
- recipients and SMS parts by country x encoding x parts (a binary campaign's payloads:
  encoding BINARY, parts as `core.binary` counts them);
- the rows whose merged fields change the text's encoding or add a part to it, with
  their line numbers and the characters responsible (the first EXAMPLES of each);
- what --gsm-safe replaced, or would make GSM-7;
- the cost from the price table (`dispatcher.prices`);
- the time to send at SMS_RATE, inside the delivery window, and how many messages
  would miss their validity (`Forecast`);
- the plan hash, which `import --plan-hash` checks the file and texts against.

Memory is flat: counters by (country, encoding, parts) and a few example lines; the
duplicate check keeps its numbers in Redis under a temporary id (PLAN_TTL, deleted
when the plan ends), as the import does.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from config.settings import Settings
from core import clock, keys, optout, sms
from core.window import Window, zones
from dispatcher.campaign import IN_FLIGHT, CampaignSpec, Checked, RowCheck, rows_of, template_of
from dispatcher.csvsource import CsvSource, Reject, Row
from dispatcher.dedupe import Dedupe
from dispatcher.numbers import country_of
from dispatcher.prices import Prices
from dispatcher.template import Template

BINARY = "BINARY"  # the encoding a binary campaign's payloads are shown with
EXAMPLES = 20  # example lines kept for each kind of change
CHUNK = 1000  # rows checked against Redis at once
PLAN_TTL = 3600  # the temporary duplicate check outlives a plan that died this long
HASH_CHARS = 16  # of the SHA-256 hex digest
STEP_S = 60  # the forecast's time step inside a delivery window
HORIZON_DAYS = 14  # the forecast looks no further
HASH_BLOCK = 1 << 20
Progress = Callable[[int, int], None]  # (bytes read, file size)


@dataclass
class Group:
    recipients: int = 0
    parts: int = 0


@dataclass
class Example:
    line: int
    encoding: str
    parts: int
    chars: str  # the characters outside GSM 03.38 in the row's text


@dataclass
class Forecast:
    rate_per_s: float | None  # SMS_RATE (and SMS_SENDER_RATE) in parts/s; None: none set
    busy_rate_per_s: float | None  # what campaigns keep while OTPs use their share
    start: str  # ISO 8601
    validity_end: str
    seconds: float | None  # to send every part; None: unknown (no rate) or never
    finish: str
    miss_validity: int  # messages that would still wait when their validity ends
    window: str


@dataclass
class Plan:
    file: str
    hash: str
    text: str
    sender: str
    provider: str
    encoding: str  # of the text without its merged fields
    parts: int  # ... and its parts
    not_gsm: str  # characters of the text itself that make it UCS-2
    options: str = ""  # the message options asked, in words (parts count by its language)
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    opted_out: int = 0
    recipients_parts: int = 0
    groups: dict[str, Group] = field(default_factory=dict)  # "TH|GSM7|1" -> Group
    changed_encoding: int = 0
    changed_parts: int = 0
    examples_encoding: list[Example] = field(default_factory=list)
    examples_parts: list[Example] = field(default_factory=list)
    chars: dict[str, int] = field(default_factory=dict)  # responsible character -> rows
    replaced: dict[str, int] = field(default_factory=dict)  # --gsm-safe: look-alike -> times
    gsm_safe_would_fix: bool = False  # the text is UCS-2 only for look-alikes
    cost: dict[str, str] = field(default_factory=dict)  # currency -> amount
    unpriced_parts: int = 0
    unpriced: list[str] = field(default_factory=list)  # "country/provider" with no price
    prices: str = ""
    forecast: Forecast | None = None
    rejects: list[str] = field(default_factory=list)  # first few reasons
    seconds: float = 0.0
    links: list[str] = field(default_factory=list)  # tracked: parts count their short links
    binary: dict[str, int] = field(default_factory=dict)  # data coding, ESM class; {}: texts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2)


def file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
            yield block


def fingerprint(
    blocks: Iterable[bytes], spec: CampaignSpec, phone_column: str | None, delimiter: str | None
) -> str:
    """The plan hash: the file's bytes and everything that changes what would be sent."""
    h = hashlib.sha256()
    for block in blocks:
        h.update(block)
    options = [
        spec.text,
        spec.sender,
        spec.provider,
        spec.gsm_safe,
        spec.send_at_ms,
        spec.window,
        spec.validity_minutes,
        phone_column or "",
        delimiter or "",
    ]
    if spec.options:  # only then: a plan without options keeps the hash it had
        options.append(str(spec.options))
    if spec.links and spec.links.track_all:  # only then: other plans keep their hash
        options.append("track_links")
    if spec.binary:  # only then, too
        options.append(spec.binary.to_meta())
    h.update(b"\0" + orjson.dumps(options))
    return h.hexdigest()[:HASH_CHARS]


class Planner:
    """One dry run over one source."""

    def __init__(
        self,
        client: Any,
        spec: CampaignSpec,
        settings: Settings,
        plan_hash: str,
        file: str,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.s = settings
        self.progress = progress
        self.prices = Prices.load(settings.prices)
        self._hash = plan_hash
        self._file = file
        self._chunk: list[Checked] = []
        self._sent: deque[Future[None]] = deque()  # chunks handed to the Redis side
        self._costs: dict[str, Decimal] = {}
        self._zones: dict[str, list[float]] = {}  # zone -> [parts, messages] (with a window)
        self._unpriced: set[str] = set()
        self._zone_of: dict[str, str] = {}  # country -> the zone its window is read in
        self._read = 0

    def run(self, source: CsvSource) -> Plan:
        started = time.perf_counter()
        template = template_of(self.spec, source)
        self.check = RowCheck(self.spec, template, source)
        self.plan = self._blank(template)
        self.plan.links = list(template.links)
        self.plan.replaced = dict(self.check.shared_replaced)  # a shared text's, once
        temp = f"plan-{uuid.uuid4().hex[:16]}"
        self._dedupe = Dedupe(self.client, temp, source.size_bytes, PLAN_TTL)
        self.client.expire(keys.campaign_meta(temp), PLAN_TTL)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="plan-redis") as self._redis_side:
                for item in rows_of(source):
                    self._take(item, source.size_bytes)
                self._flush()
                while self._sent:
                    self._sent.popleft().result()
        finally:
            _drop(self.client, temp, self._dedupe.buckets)
        self._finish()
        self.plan.seconds = round(time.perf_counter() - started, 3)
        return self.plan

    def _blank(self, template: Template) -> Plan:
        spec = self.spec
        if spec.binary:  # payloads: no encoding to choose; the parts of a shared one
            return Plan(
                self._file,
                self._hash,
                spec.text,
                spec.sender,
                spec.provider or self.s.provider,
                BINARY,
                self.check.shared_parts,
                "",
                binary=spec.binary.to_meta(),
                prices=self.prices.source,
            )
        fixed = sms.lookalike_fix(template.shared_text)[0]  # the text without merged fields
        literal = fixed if self.spec.gsm_safe else template.shared_text
        language = self.spec.options.language
        base = self._shared_split = sms.split(literal, language)
        would_fix = sms.encoding_of(fixed, language) == "GSM7"
        return Plan(
            self._file,
            self._hash,
            self.spec.text,
            self.spec.sender,
            self.spec.provider or self.s.provider,
            base.encoding,
            base.parts,
            "".join(sms.not_gsm(literal, language)),
            str(self.spec.options),
            gsm_safe_would_fix=base.encoding == "UCS2" and would_fix,
            prices=self.prices.source,
        )

    def _take(self, item: Row | Reject, size: int) -> None:
        p = self.plan
        p.rows += 1
        if self.progress:
            self._read += sum(map(len, item.fields)) + len(item.fields)
            if p.rows % CHUNK == 0:
                self.progress(min(self._read, size), size)
        row = self.check(item)
        if isinstance(row, Reject):
            p.invalid += 1
            if len(p.rejects) < 5:
                p.rejects.append(f"line {row.line} [{row.field}]: {row.reason}")
            return
        for ch, n in row.replaced.items():
            p.replaced[ch] = p.replaced.get(ch, 0) + n
        self._chunk.append(row)
        if len(self._chunk) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        """Hand the chunk to the Redis side (one thread: chunks keep file order; at most
        IN_FLIGHT at once) and read on while it runs, as the import does."""
        rows, self._chunk = self._chunk, []
        if not rows:
            return
        while len(self._sent) >= IN_FLIGHT:
            self._sent.popleft().result()
        self._sent.append(self._redis_side.submit(self._settle, rows))

    def _settle(self, rows: list[Checked]) -> None:
        owners = self._dedupe.owners([(c.number, c.line) for c in rows])
        opted = optout.check(self.client, [c.number for c in rows])
        for i, c in enumerate(rows):
            if i in owners:
                self.plan.duplicates += 1
            elif opted[i] is not None:
                self.plan.opted_out += 1
            else:
                self._count(c)

    def _count(self, c: Checked) -> None:
        p = self.plan
        p.valid += 1
        country = country_of(c.number) or "??"
        split: sms.Split | None = None
        if self.spec.binary:
            encoding, parts = BINARY, c.parts
        else:
            language = self.spec.options.language
            split = self._shared_split if c.text is None else sms.split(c.text, language)
            encoding, parts = split.encoding, split.parts
        g = p.groups.setdefault(f"{country}|{encoding}|{parts}", Group())
        g.recipients += 1
        g.parts += parts
        p.recipients_parts += parts
        self._cost(country, self._provider(c.number), parts)
        if self.spec.window:
            self._zone(c.number, country, parts)
        if c.text is not None and split is not None:
            self._changes(c.line, c.text, split)

    def _changes(self, line: int, text: str, split: sms.Split) -> None:
        p = self.plan
        if split.encoding != p.encoding:
            p.changed_encoding += 1
            chars = sms.not_gsm(text, self.spec.options.language)
            for ch in chars:
                p.chars[ch] = p.chars.get(ch, 0) + 1
            if len(p.examples_encoding) < EXAMPLES:
                example = Example(line, split.encoding, split.parts, "".join(chars))
                p.examples_encoding.append(example)
        elif split.parts > p.parts:
            p.changed_parts += 1
            if len(p.examples_parts) < EXAMPLES:
                p.examples_parts.append(Example(line, split.encoding, split.parts, ""))

    def _provider(self, number: str) -> str:
        if self.spec.provider:
            return self.spec.provider
        for route in self.s.routes:
            if route.matches(number, self.spec.sender):
                return route.providers[0]
        return self.s.provider

    def _cost(self, country: str, provider: str, parts: int) -> None:
        price = self.prices.of(country, provider)
        if price is None:
            self.plan.unpriced_parts += parts
            self._unpriced.add(f"{country}/{provider}")
            return
        amount, currency = price
        self._costs[currency] = self._costs.get(currency, Decimal(0)) + amount * parts

    def _zone(self, number: str, country: str, parts: int) -> None:
        key = self._zone_of.get(country)
        if key is None:
            key = self._zone_of[country] = zones(number, self.s.window_timezone)[0].key
        acc = self._zones.setdefault(key, [0.0, 0.0])
        acc[0] += parts
        acc[1] += 1

    def _finish(self) -> None:
        p = self.plan
        p.cost = {cur: str(amount) for cur, amount in sorted(self._costs.items())}
        p.unpriced = sorted(self._unpriced)
        p.groups = dict(sorted(p.groups.items(), key=lambda kv: -kv[1].recipients))
        p.forecast = forecast(self.s, self.spec, p.recipients_parts, p.valid, self._zones)


def _drop(client: Any, temp: str, buckets: int) -> None:
    """Delete the plan's temporary duplicate check."""
    pipe = client.pipeline(transaction=False)
    pipe.unlink(keys.campaign_meta(temp))
    for b in range(buckets):
        pipe.unlink(keys.campaign_numbers(temp, b))
        if len(pipe) >= CHUNK:
            pipe.execute()
    pipe.execute()


# -- the forecast ------------------------------------------------------------------------


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def rates(s: Settings) -> tuple[float | None, float | None]:
    """Parts/s a campaign gets with no OTPs (the idle transactional share is lent) and
    while OTPs use their share; None when no SMS_RATE is set."""
    per_s = [r.attempts * 1000 / r.window_ms for r in (s.rate, s.sender_rate) if r]
    if not per_s:
        return None, None
    best = min(per_s)
    busy = min(
        best,
        s.rate.attempts * 1000 / s.rate.window_ms * (1 - s.transactional_share) if s.rate else best,
    )
    return best, busy


def forecast(
    s: Settings, spec: CampaignSpec, parts: int, messages: int, by_zone: dict[str, list[float]]
) -> Forecast:
    """When the campaign's parts would all be sent at the account's rate, inside the
    delivery window of each recipient's zone, and how many messages would miss their
    validity (they would end expired, never sent)."""
    start = max(clock.now_ms(), spec.send_at_ms)
    end = start + spec.validity_minutes * 60_000
    rate, busy = rates(s)
    f = Forecast(rate, busy, _iso(start), _iso(end), None, "", 0, spec.window)
    if not parts:
        f.seconds, f.finish = 0.0, _iso(start)
        return f
    if spec.window:
        sent_at, missed = _walk(Window.parse(spec.window), by_zone, rate, start, end)
    elif rate is None:
        sent_at, missed = None, 0
    else:
        sendable = (end - start) / 1000 * rate
        missed = round(messages * max(0.0, 1 - sendable / parts))
        sent_at = start + parts / rate * 1000 if not missed else None
    f.miss_validity = missed
    if sent_at is not None:
        f.seconds, f.finish = round((sent_at - start) / 1000, 1), _iso(sent_at)
    return f


def _walk(
    window: Window, by_zone: dict[str, list[float]], rate: float | None, start: int, end: int
) -> tuple[float | None, int]:
    """Step through time: the zones whose window is open share the rate in proportion to
    what they still have to send; what is left at the validity end is missed."""
    left = {z: list(v) for z, v in by_zone.items()}
    per_part = {z: v[1] / v[0] for z, v in by_zone.items() if v[0]}
    zone_info = {z: ZoneInfo(z) for z in left}
    t, horizon = float(start), start + HORIZON_DAYS * 86_400_000
    while any(v[0] > 0 for v in left.values()) and t < min(end, horizon):
        open_ = [z for z, v in left.items() if v[0] > 0 and _open(window, zone_info[z], t)]
        if open_:
            if rate is None:  # no account rate: all of an open zone goes at once
                for z in open_:
                    left[z] = [0.0, 0.0]
                continue
            budget, total = rate * STEP_S, sum(left[z][0] for z in open_)
            for z in open_:
                take = min(left[z][0], budget * left[z][0] / total)
                left[z][0] -= take
                left[z][1] -= take * per_part[z]
            if budget >= total and not any(v[0] > 1e-9 for v in left.values()):
                return t + total / rate * 1000, 0  # done inside this step
        t += STEP_S * 1000
    missed = sum(max(0.0, v[1]) for v in left.values() if v[0] > 1e-9)
    return (None, round(missed)) if missed else (t, 0)


def _open(window: Window, zone: ZoneInfo, t_ms: float) -> bool:
    local = datetime.fromtimestamp(t_ms / 1000, zone).time()
    if window.end <= window.start:  # over midnight, or 24:00
        return local >= window.start or local < window.end
    return window.start <= local < window.end
