"""Import a campaign: rows in, validated and normalised, deduplicated, batched, enqueued.

Re-runnable: batch `seq` is the n-th group of `batch_size` unique valid rows in file
order, which a re-run computes identically (the campaign's number -> first-line hash
makes duplicates deterministic), and a batch whose bit is set in
`sms:c:{id}:enqueued` is skipped.  So importing the same campaign again enqueues
nothing new, and an import interrupted half-way finishes on a re-run with no
duplicates.  Two imports of one campaign at once (or `enqueue_campaign` retried
by its caller while the first call still runs) share the work: each batch is
claimed before it is enqueued (`enqueue_once.lua`), so it is enqueued by one of
them and counted once.  (A crash between enqueueing a batch and setting its bit
can enqueue that one batch twice: it is counted once, and the workers' send
claims make sure each message goes out once.)

A campaign is either imported (a CSV, or recipients) or takes single messages
(`send_sms`, `POST /v1/messages`: its meta's `kind` is TRANSACTIONAL), never both, and a
canceled one takes neither (`check_kind`).
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import redis

from core import binary, clock, ids, keys, lua, optout, pause, replies, schedule, sms
from core.batch import BINARY_KEY, OPTIONS_KEY, WINDOW_KEY, Batch, Destination
from core.binary import Binary
from core.errors import CampaignCanceled, CampaignConflict, InputError, PlaceholderError
from core.options import NO_OPTIONS, SendOptions
from dispatcher import links
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource, Reject, Row
from dispatcher.dedupe import Dedupe
from dispatcher.links import LinkSpec
from dispatcher.numbers import normalise
from dispatcher.otp import OTP_CAMPAIGN
from dispatcher.template import Template
from providers import registry
from providers.registry import Profile

CAMPAIGN_TTL = 30 * 86400  # how long re-import protection lasts
REJECTS_CHUNK = 64 * 1024  # rejects are kept in Redis in pieces this big
REJECTS_KEPT_ROWS = 10_000  # the first rejected rows of an import kept for GET .../rejects
REJECTS_KEPT_BYTES = 4 * 1024 * 1024  # and at most this much of them
REJECTS_TOTAL, REJECTS_KEPT = "rejects_total", "rejects_kept"  # the campaign meta's counts
# what a re-import of a campaign cannot change
FIXED = ("text", "sender", "provider", "options", "binary", "track_links")
DEDUPE_CHUNK = 1000
IN_FLIGHT = 2  # chunks of DEDUPE_CHUNK rows handed to the import's Redis side at once
STALE_CLAIM_MS = 5_000  # another import's batch claim this old: that import died
KIND, TRANSACTIONAL = "kind", "transactional"  # the meta field of a campaign of single messages
# a campaign's kinds (status `kind`): imported rows; a channel of single messages (meta
# KIND = TRANSACTIONAL: send_sms, POST /v1/messages); the one-time PINs' channel (`otp`)
IMPORTED_KIND, MESSAGES_KIND, OTP_KIND = "campaign", "messages", "otp"
KINDS = (IMPORTED_KIND, MESSAGES_KIND, OTP_KIND)
IMPORTED = "created"  # the meta field every import sets

Enqueue = Callable[[dict[str, Any]], None]


class RejectsWriter(Protocol):
    """Where an import writes its rejects: the header row, then one row per reject
    (a `SafeCsvWriter` over the rejects file, or anything that keeps them otherwise)."""

    def writerow(self, row: Iterable[Any]) -> None: ...


def kind_of(campaign: str, stored: str) -> str:
    """A campaign's kind from its id and its meta's KIND field (`stored`)."""
    if campaign == OTP_CAMPAIGN:
        return OTP_KIND
    return MESSAGES_KIND if stored == TRANSACTIONAL else IMPORTED_KIND


KIND_FIELDS = (pause.CANCELED_FIELD, IMPORTED, KIND)  # what `check_kind` reads of the meta


def check_kind(client: redis.Redis, campaign: str, *, transactional: bool) -> None:
    """Refuse to add to a canceled campaign (CampaignCanceled), to add single messages to
    an imported one, or to import into one of single messages (InputError, field campaign)."""
    # one round trip (send_sms makes this check on every call, in a pipeline with its
    # own: docs/performance.md, "Transactional latency"); what pause.canceled reads, with
    # the kind
    fields = client.hmget(keys.campaign_meta(campaign), *KIND_FIELDS)
    judge_kind(campaign, fields, transactional=transactional)


def judge_kind(campaign: str, fields: Sequence[Any], *, transactional: bool) -> None:
    """`check_kind` on the meta's KIND_FIELDS as read (HMGET) by the caller."""
    another = "send with another" if transactional else "import it as another"
    canceled, imported, kind = fields
    if canceled is not None:
        raise CampaignCanceled(f"campaign {campaign!r} was canceled: {another}")
    if transactional and imported:
        raise InputError(
            f"campaign {campaign!r} was imported (a CSV or recipients): single "
            "messages go to a campaign of their own ('api' when none is named)",
            field="campaign",
        )
    if not transactional and kind == TRANSACTIONAL.encode():
        raise InputError(
            f"campaign {campaign!r} takes single messages (POST /v1/messages, send_sms): {another}",
            field="campaign",
        )


@dataclass
class ImportReport:
    campaign: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    opted_out: int = 0  # valid and unique, but on the opt-out list: not sent
    batches: int = 0
    enqueued: int = 0
    skipped: int = 0  # enqueued before, or right now by another import of the campaign
    busy: int = 0  # of those, batches another import was enqueueing (or died enqueueing)
    seconds: float = 0.0
    rejects: list[str] = field(default_factory=list)  # first few reasons, for the summary
    replaced: dict[str, int] = field(default_factory=dict)  # --gsm-safe: look-alike -> times


Progress = Callable[[ImportReport], None]


@dataclass(frozen=True)
class CampaignSpec:
    campaign: str
    sender: str
    text: str
    region: str
    batch_size: int
    validity_minutes: int
    provider: str = ""  # asked for by the caller ("": routes, else SMS_PROVIDER)
    profile: Profile | None = None  # the gateway texts are checked against (too long?)
    send_at_ms: int = 0  # when it starts (0: now); its batches wait in core.schedule
    window: str = ""  # "HH:MM-HH:MM" in each recipient's local time (core.window)
    gsm_safe: bool = False  # look-alikes become GSM-7 where that makes a text GSM-7
    options: SendOptions = NO_OPTIONS  # flash, language, transliteration, interim reports
    links: LinkSpec | None = None  # tracked links: a short link per recipient
    # a binary campaign: `text` is its payload's template, the hex itself or `{column}`,
    # each payload checked by core.binary against this data coding and ESM class
    binary: Binary | None = None
    # a binary campaign sent by route: the provider a number's route picks (each row's
    # gateway must send binary); None: the provider asked for, checked once
    gateway_of: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """A row that passed the checks of one row: its number and text (None: the shared one)."""

    line: int
    number: str
    text: str | None
    replaced: dict[str, int]  # --gsm-safe replacements in this row's text
    parts: int = 0  # a binary payload's parts (core.binary); texts are counted by the plan


def _track_links(spec: CampaignSpec) -> str:
    """The meta's `track_links`: "1" when every URL of the text is a tracked link."""
    return "1" if spec.links and spec.links.track_all else "0"


def template_of(spec: CampaignSpec, source: CsvSource) -> Template:
    """The campaign's text over the source's columns (its links' placeholders too; a binary
    campaign's payload column)."""
    base, track = (spec.links.base, spec.links.track_all) if spec.links else ("", False)
    try:
        return Template(
            spec.text, source.header, file=source.name, link_base=base, track_links=track
        )
    except PlaceholderError as exc:
        if not spec.binary:
            raise
        column, known = spec.text.strip("{} "), ", ".join(h.strip() for h in source.header)
        why = f"no column {column!r} for the binary payloads; columns are: {known}"
        raise InputError(why, file=source.name, line=1, field="binary_column") from exc


class RowCheck:
    """What import and plan both do to one row: number normalised, text merged and
    (with --gsm-safe) its look-alikes replaced, length checked (a binary campaign's: its
    gateway sends binary, its payload checked by core.binary).  A row that fails is a
    `Reject` naming the field."""

    def __init__(self, spec: CampaignSpec, template: Template, source: CsvSource) -> None:
        self.spec = spec
        self.template = template
        self.phone_index = source.phone_index
        self.phone_field = source.header[source.phone_index]
        self.shared: str | None = None
        self.shared_replaced: dict[str, int] = {}
        self.shared_parts = 0  # a shared binary payload's
        if not template.personalised and spec.binary:
            try:
                checked = binary.check(template.shared_text, spec.binary, self.max_parts)
            except binary.BinaryError as exc:
                raise InputError(exc.reason, file=source.name, field="binary") from None
            self.shared, self.shared_parts = checked.hex, checked.parts
        elif not template.personalised:
            self.shared, self.shared_replaced = self._fix(template.shared_text)
            if why := self.too_long(self.shared):
                raise InputError(why, file=source.name, field="text")

    @property
    def max_parts(self) -> int:
        return self.spec.profile.max_parts if self.spec.profile else 0

    def _fix(self, text: str) -> tuple[str, dict[str, int]]:
        return sms.lookalike_fix(text) if self.spec.gsm_safe else (text, {})

    def too_long(self, text: str) -> str:
        profile, language = self.spec.profile, self.spec.options.language
        return profile.too_long(text, language) if profile else ""

    def __call__(self, item: Row | Reject) -> Checked | Reject:
        if isinstance(item, Reject):
            return item
        try:
            number = normalise(item.fields[self.phone_index], self.spec.region)
        except InputError as exc:
            return Reject(item.line, self.phone_field, exc.reason, item.fields)
        if self.spec.binary:
            return self._binary(item, number, self.spec.binary)
        if not self.template.personalised:
            return Checked(item.line, number, None, {})
        text, replaced = self._fix(self.template.render(item.fields))
        if why := self.too_long(text):
            return Reject(item.line, "text", why, item.fields)
        return Checked(item.line, number, text, replaced)

    def _binary(self, item: Row, number: str, coding: Binary) -> Checked | Reject:
        """A binary campaign's row: its gateway sends binary, its payload (a column's) is
        one core.binary takes; a bad one is rejected naming its column."""
        route = self.spec.gateway_of
        if route and (why := registry.binary_refusal(gateway := route(number))):
            why = f"{why}; SMS_ROUTES sends {number} to {gateway}: import it with --provider"
            return Reject(item.line, self.phone_field, why, item.fields)
        if not self.template.personalised:
            return Checked(item.line, number, None, {}, self.shared_parts)
        try:
            checked = binary.check(self.template.render(item.fields), coding, self.max_parts)
        except binary.BinaryError as exc:
            column = self.spec.text.strip("{} ")  # the template of a payload column: {name}
            return Reject(item.line, column, exc.reason, item.fields)
        return Checked(item.line, number, checked.hex, {}, checked.parts)


class KeptRejects:
    """What every import keeps of its rejects for `GET .../rejects`: the header row and the
    first rows (REJECTS_KEPT_ROWS, REJECTS_KEPT_BYTES) as CSV, and how many rows there were."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.total = -1  # rows written but the header
        self.kept = -1
        self._row = io.StringIO()
        self._out = SafeCsvWriter(self._row)

    def writerow(self, row: Iterable[object]) -> None:
        self.total += 1
        if self.kept < self.total - 1:  # one was left out: so are those after it
            return
        self._row.seek(0)
        self._row.truncate()
        self._out.writerow(row)
        line = self._row.getvalue().encode()
        if self.kept < REJECTS_KEPT_ROWS and len(self.data) + len(line) <= REJECTS_KEPT_BYTES:
            self.data += line
            self.kept += 1


def keep_rejects(r: redis.Redis, campaign: str, kept: KeptRejects, ttl: int) -> None:
    """The kept rejects, in pieces, for GET .../rejects (replaces an earlier import's),
    and their counts in the campaign's meta."""
    key, data = keys.campaign_rejects(campaign), bytes(kept.data)
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    for at in range(0, len(data), REJECTS_CHUNK):
        pipe.rpush(key, data[at : at + REJECTS_CHUNK])
    pipe.expire(key, ttl)
    pipe.hset(
        keys.campaign_meta(campaign),
        mapping={REJECTS_TOTAL: max(kept.total, 0), REJECTS_KEPT: max(kept.kept, 0)},
    )
    pipe.execute()


class BothRejects:
    """Rejects written to a writer of the caller's (the whole rejects file) and kept."""

    def __init__(self, first: RejectsWriter, kept: KeptRejects) -> None:
        self.first = first
        self.kept = kept

    def writerow(self, row: Iterable[Any]) -> None:
        self.first.writerow(row)
        self.kept.writerow(row)


def rows_of(source: CsvSource) -> Iterator[Row | Reject]:
    """The source's rows; InputError "no rows" for a file with a header and nothing else
    (an import or a plan of it refuses before anything is written)."""
    items = iter(source)
    first = next(items, None)
    if first is None:
        raise InputError("no rows: the file has a header and nothing else", file=source.name)
    yield first
    yield from items


class Importer:
    """One import run of one campaign."""

    def __init__(
        self,
        client: redis.Redis,
        enqueue: Enqueue,
        spec: CampaignSpec,
        rejects: RejectsWriter | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.enqueue = enqueue
        self.spec = spec
        self.rejects = rejects
        self.progress = progress
        self.report = ImportReport(spec.campaign)
        self._check: list[tuple[int, str, str | None]] = []
        self._last_line = 0  # the highest line with a message (export's index)
        self._fields: dict[int, Any] = {}  # fields of the rows in _check, for rejects
        self._sent: deque[Future[None]] = deque()  # chunks handed to the Redis side
        self._lock = threading.Lock()  # rejects and counts are written by both sides
        self._ready: list[Destination | None] = []  # None: opted out, keeps its place
        self._seq = 0
        self._token = uuid.uuid4().hex

    def run(self, source: CsvSource) -> ImportReport:
        started = time.perf_counter()
        self.template = template_of(self.spec, source)
        self._row = RowCheck(self.spec, self.template, source)
        self.report.replaced = dict(self._row.shared_replaced)
        self._phone_field = self._row.phone_field
        if self.rejects:
            self.rejects.writerow(["line", "field", "reason", *source.header])
        items = rows_of(source)
        first = next(items)  # refused before anything is written
        self._begin()
        self._dedupe = Dedupe(self.client, self.spec.campaign, source.size_bytes, CAMPAIGN_TTL)
        with ThreadPoolExecutor(1, thread_name_prefix="import-redis") as self._redis_side:
            self._take(first)
            for item in items:
                self._take(item)
            self._flush_check()
            while self._sent:
                self._sent.popleft().result()
            for chunk in self._chunks(final=True):  # the Redis side is idle: the last batches
                self._emit(chunk)
        self.report.seconds = time.perf_counter() - started
        self._finish()
        return self.report

    def _begin(self) -> None:
        s, meta = self.spec, keys.campaign_meta(self.spec.campaign)
        check_kind(self.client, s.campaign, transactional=False)
        if self.client.exists(keys.legacy_campaign_meta(s.campaign)):
            raise InputError(
                f"campaign {s.campaign!r} was imported by a release before the "
                "ledger, which does not know what it sent: import it as another",
                field="campaign",
            )
        expires = max(clock.now_ms(), s.send_at_ms) + s.validity_minutes * 60_000
        self._same_as_before()
        pipe = self.client.pipeline()
        pipe.sadd(keys.CAMPAIGNS, s.campaign)
        pipe.hsetnx(meta, IMPORTED, int(time.time()))
        pipe.hsetnx(meta, "expires_at", expires)
        pipe.hset(
            meta,
            mapping={
                "sender": s.sender,
                "text": s.text,
                "region": s.region,
                "send_at": s.send_at_ms,
                "window": s.window,
            },
        )
        pipe.hsetnx(meta, "provider", s.provider)
        pipe.hsetnx(meta, "options", s.options.stored())
        pipe.hsetnx(meta, "binary", str(s.binary or ""))
        pipe.hsetnx(meta, "track_links", _track_links(s))
        pipe.hget(meta, "expires_at")
        pipe.get(keys.campaign_enqueued(s.campaign))
        *_, expires_at, bits = pipe.execute()
        self._expires_at = int(expires_at)
        self._bits = bits or b""
        self._link_tag = ""
        if s.links and self.template.links:  # its links live under the campaign's tag
            self._link_tag = links.claim_tag(self.client, s.campaign, s.links.ttl)

    def _same_as_before(self) -> None:
        """CampaignConflict when the campaign was imported before with another text, sender,
        provider or message options (FIXED): a re-import enqueues only what is missing,
        never new texts."""
        s = self.spec
        before = self.client.hmget(keys.campaign_meta(s.campaign), *FIXED)
        now = {
            "text": s.text,
            "sender": s.sender,
            "provider": s.provider,
            "options": s.options.stored(),
            "binary": str(s.binary or ""),
            "track_links": _track_links(s),
        }
        for name, was in zip(FIXED, before, strict=True):
            if was is not None and replies.text(was) != now[name]:
                raise CampaignConflict(
                    f"campaign {s.campaign!r} was imported with another {name} "
                    f"({replies.text(was)!r}, not {now[name]!r}): import it as another campaign"
                )

    def _take(self, item: Row | Reject) -> None:
        self.report.rows += 1
        row = self._row(item)
        if isinstance(row, Reject):
            return self._reject(row.line, row.field, row.reason, row.fields)
        for ch, n in row.replaced.items():
            self.report.replaced[ch] = self.report.replaced.get(ch, 0) + n
        self._check.append((row.line, row.number, row.text))
        self._fields[row.line] = item.fields
        if len(self._check) >= DEDUPE_CHUNK:
            self._flush_check()

    def _reject(
        self, line: int, field_: str, reason: str, fields: Any, duplicate: bool = False
    ) -> None:
        """A rejected row: invalid, or a duplicate (counted apart, as the plan counts)."""
        with self._lock:
            if duplicate:
                self.report.duplicates += 1
            else:
                self.report.invalid += 1
            if len(self.report.rejects) < 5:
                self.report.rejects.append(f"line {line} [{field_}]: {reason}")
            if self.rejects:
                self.rejects.writerow([line, field_, reason, *fields])

    def _flush_check(self) -> None:
        """Hand the chunk to the Redis side (one thread, so chunks keep file order) and go on
        reading rows while it runs: parsing and Redis overlap.  At most IN_FLIGHT chunks are
        handed over at once, so memory stays flat however fast the file reads."""
        if not self._check:
            return
        while len(self._sent) >= IN_FLIGHT:
            self._sent.popleft().result()  # raises what the Redis side raised
        self._sent.append(self._redis_side.submit(self._settle, self._check, self._fields))
        self._check = []
        self._fields = {}

    def _settle(self, rows: list[tuple[int, str, str | None]], fields: dict[int, Any]) -> None:
        """On the Redis side: dedupe a chunk, reject its duplicates, batch and enqueue the rest."""
        owners = self._dedupe.owners([(number, line) for line, number, _ in rows])
        opted = optout.check(self.client, [number for _, number, _ in rows])
        for i, (line, number, text) in enumerate(rows):
            if owner := owners.get(i):
                why = f"duplicate of line {int(owner)}"
                self._reject(line, self._phone_field, why, fields[line], duplicate=True)
                continue
            self._last_line = max(self._last_line, line)
            if entry := opted[i]:  # keeps its place: batches stay those of a re-run
                self._opted_out(line, entry, fields[line])
                self._ready.append(None)
                continue
            self.report.valid += 1
            self._ready.append(Destination(ids.message_id(self.spec.campaign, line), number, text))
        for chunk in self._chunks(final=False):
            self._emit(chunk)

    def _opted_out(self, line: int, entry: optout.Entry, fields: Any) -> None:
        with self._lock:
            self.report.opted_out += 1
            if self.rejects:
                why = f"on the opt-out list ({entry.source}: {entry.reason})"
                self.rejects.writerow([line, self._phone_field, why, *fields])

    def _chunks(self, *, final: bool) -> Iterator[list[Destination | None]]:
        """Whole batches of the ready destinations (and, when `final`, the last part one)."""
        size = self.spec.batch_size
        while len(self._ready) >= size or (final and self._ready):
            chunk, self._ready = self._ready[:size], self._ready[size:]
            yield chunk

    def _emit(self, chunk: list[Destination | None]) -> None:
        seq, self._seq = self._seq, self._seq + 1
        self.report.batches += 1
        dests = [d for d in chunk if d is not None]
        if not dests:
            return  # every number of it opted out: nothing to send
        byte, bit = divmod(seq, 8)
        known = byte < len(self._bits) and self._bits[byte] & (0x80 >> bit)
        claim = b"done" if known else self._once("claim", seq, STALE_CLAIM_MS)
        if claim != b"mine":
            self.report.skipped += 1
            self.report.busy += claim == b"busy"
            return
        s = self.spec
        if self._link_tag:
            dests = self._with_links(dests)
        shared = self._row.shared
        meta: dict[str, Any] = {WINDOW_KEY: s.window} if s.window else {}
        if s.options:
            meta[OPTIONS_KEY] = s.options.to_meta()
        if s.binary:
            meta[BINARY_KEY] = s.binary.to_meta()
        batch = Batch(
            s.campaign,
            seq,
            ids.bulk_id(s.campaign, seq),
            s.sender,
            shared,
            tuple(dests),
            self._expires_at,
            provider=s.provider,
            meta=meta,
        )
        try:
            if s.send_at_ms > clock.now_ms():
                schedule.later(self.client, s.campaign, s.send_at_ms, [batch.to_dict()])
            else:
                self.enqueue(batch.to_dict())
        except BaseException:
            self._once("release", seq, 0)
            raise
        self._once("mark", seq, len(dests))
        self.report.enqueued += 1
        if self.progress:
            self.progress(self.report)

    def _with_links(self, dests: list[Destination]) -> list[Destination]:
        """The destinations with their short links in place: minted now, or those their
        messageIds got before (a re-run, or a batch enqueued again)."""
        spec, targets = self.spec.links, self.template.links
        assert spec is not None
        wanted = [(d.message_id, targets) for d in dests]
        codes = links.mint(self.client, self._link_tag, self.spec.campaign, wanted, spec.ttl)
        return [
            replace(d, text=links.fill(d.text or "", spec.base, mine))
            for d, mine in zip(dests, codes, strict=True)
        ]

    def _once(self, mode: str, seq: int, arg: int) -> bytes:
        """The one wrapper of enqueue_once.lua (claim a batch, then mark it enqueued)."""
        c = self.spec.campaign
        keys_ = [
            keys.campaign_enqueued(c),
            keys.campaign_enqueuing(c),
            keys.campaign_counts(c),
            keys.campaign_meta(c),
        ]
        args = [mode, seq, self._token, arg, CAMPAIGN_TTL]
        return lua.script(self.client, "enqueue_once", "dispatcher")(keys=keys_, args=args)

    def _finish(self) -> None:
        rp, meta = self.report, keys.campaign_meta(self.report.campaign)
        before = int(self.client.hget(meta, "last_line") or 0)  # a re-run with a shorter file
        self.client.hset(
            meta,
            mapping={
                "rows": rp.rows,
                "valid": rp.valid,
                "invalid": rp.invalid,
                "duplicates": rp.duplicates,
                "opted_out": rp.opted_out,
                "batches": rp.batches,
                "imported": int(time.time()),
                "last_line": max(before, self._last_line),
            },
        )
