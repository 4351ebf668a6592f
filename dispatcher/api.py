"""The public Python API, for services that enqueue SMS without the CLI.

    from dispatcher import api
    api.enqueue_campaign([{"phone": "0812345678", "name": "Ann"}], campaign="spring",
                         text="Hi {name}", sender="Shop")
    api.send_sms("0812345678", "Your parcel is on its way", key="order-1234")

Same validation, normalisation, ids and idempotency as the CSV import: calling
either twice with the same campaign / key enqueues nothing new.  A campaign's message
options (flash, a national language, transliteration, intermediate reports) are
`options=api.send_options(flash=True, language_code="TR", single_shift=True)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from config import settings as config
from core import clock, ids, keys
from core.batch import Batch, Destination
from core.binary import DEFAULT_DATA_CODING, DEFAULT_ESM_CLASS, Binary, BinaryError, octets_of
from core.errors import ConfigError, InputError, PlanChanged
from core.options import SendOptions
from core.options import send_options as send_options  # re-exported: see above
from core.redis_pool import sync_redis
from core.window import Window
from dispatcher import links, plan
from dispatcher import otp as otp_service
from dispatcher.campaign import (
    KIND,
    KIND_FIELDS,
    TRANSACTIONAL,
    BothRejects,
    CampaignSpec,
    Importer,
    ImportReport,
    KeptRejects,
    Progress,
    RejectsWriter,
    judge_kind,
    keep_rejects,
)
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource, from_csv_text, open_text, rows_csv
from dispatcher.numbers import normalise
from providers import registry

API_CAMPAIGN = "api"
MAX_SEND_AHEAD = timedelta(days=366)  # a send-at further away is a mistake, not a plan


def default_rejects(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def _settings(settings: config.Settings | None) -> config.Settings:
    s = settings or config.load()
    if not s.redis_url:
        raise ConfigError("REDIS_URL", "not set: the API needs the Redis the workers use")
    registry.check(s)
    return s


_brokers: dict[str, Any] = {}


def producer(settings: config.Settings) -> Any:
    """The producer broker of these settings, made once per broker (SMS_BROKER_URL/REDIS_URL)."""
    from core.queues import make_producer

    where = settings.broker_url or settings.redis_url
    if where not in _brokers:
        _brokers[where] = make_producer(settings.broker_url, settings.redis_url)
    return _brokers[where]


_clients: dict[tuple[str, bool], Any] = {}


def state_client(settings: config.Settings) -> Any:
    """The Redis client of these settings for single messages, made once per server (as
    `producer`): a client made per call opened two connections for every `send_sms`, each
    a TCP handshake and its set-up commands, round trips that wait behind a campaign's
    calls like any other (docs/performance.md, "Transactional latency")."""
    where = (settings.redis_url, settings.redis_cluster)
    if where not in _clients:
        _clients[where] = sync_redis(settings.redis_url, cluster=settings.redis_cluster)
    return _clients[where]


def enqueuer(settings: config.Settings) -> Any:
    """enqueue(batch_dict) on the producer broker."""
    from core.queues import enqueue_batch

    return functools.partial(enqueue_batch, producer(settings))  # no call of ours between


def _spec(
    s: config.Settings,
    campaign: str,
    text: str,
    sender: str | None,
    provider: str | None = None,
    send_at: datetime | str | None = None,
    window: str | None = None,
    gsm_safe: bool = False,
    options: SendOptions | None = None,
    *,
    track_links: bool = False,
    binary: BinaryPayload | None = None,
) -> CampaignSpec:
    """The campaign's facts; its texts and sender are checked against the gateway asked for
    (`provider`, else SMS_PROVIDER: routes may pick others, with the same profile facts).
    `send_at`: when it starts (ISO 8601 with a zone); `window`: "HH:MM-HH:MM" in each
    recipient's local time (core.window); `gsm_safe`: look-alikes become GSM-7 where that
    makes a text GSM-7 (core.sms.lookalike_fix); `options`: flash, a national language,
    transliteration, intermediate reports (core.options), refused when that gateway does not
    take one of them; `track_links`: every http(s) URL of the text is a tracked link, as
    `{link:...}` is (dispatcher.links: needs SMS_LINK_BASE); `binary`: binary payloads
    instead of a text (`BinaryPayload`)."""
    sender = _sender(sender) if sender else s.sender
    spec = _provider(provider or s.provider)
    if not spec.profile.check_sender(sender):
        raise InputError(f"sender {sender!r} is not one {spec.name} accepts", field="sender")
    coding, gateway_of = None, None
    if binary is not None:
        unsent = [n for n, on in (("text", text), ("gsm_safe", gsm_safe)) if on]
        written = options and (options.flash or options.transliteration or options.language)
        unsent += [n for n, on in (("track_links", track_links), ("options", written)) if on]
        coding, text = binary.coding(unsent), binary.template()
        if provider or not s.routes:  # one gateway for every row
            if why := registry.binary_refusal(spec.name):
                raise InputError(why, field="provider")
        else:  # each row's route: checked per row
            gateway_of = _first_routed(s, sender)
    options = options or SendOptions()
    if why := registry.refusal(spec.name, options):
        raise InputError(why, field="options")
    when = str(Window.parse(window)) if window else ""
    return CampaignSpec(
        ids.check_campaign(campaign),
        sender,
        text,
        s.region,
        s.batch_size,
        s.validity_minutes,
        provider or "",
        spec.profile,
        send_at_ms(send_at),
        when,
        gsm_safe,
        options=options,
        links=links.spec_for(text, track_links, s.link_base, s.link_ttl),
        binary=coding,
        gateway_of=gateway_of,
    )


@dataclass(frozen=True)
class BinaryPayload:
    """A binary campaign's payloads instead of a text (`core.binary`): `hex` one for every
    recipient, or `column` one per recipient (a CSV column, a recipients' key); their
    `data_coding` (default 4: 8-bit data) and `esm_class` (64: each payload begins with
    a user data header)."""

    hex: str = ""
    column: str = ""
    data_coding: int = DEFAULT_DATA_CODING
    esm_class: int = DEFAULT_ESM_CLASS

    def template(self) -> str:
        """The payload's template: the hex itself (checked here) or `{column}`."""
        if bool(self.hex) == bool(self.column):
            why = "give one payload for all (hex) or a column of payloads, not both"
            raise InputError(
                why if self.hex else "a binary campaign needs a payload", field="binary"
            )
        if self.column:
            return "{" + self.column + "}"
        try:
            octets_of(self.hex)
        except BinaryError as exc:
            raise InputError(exc.reason, field="binary") from None
        return self.hex

    def coding(self, unsent: list[str]) -> Binary:
        """Its data coding and ESM class; an InputError naming the field when one is out of
        range, or when `unsent` names what a payload cannot have (a text, text options)."""
        if unsent:
            raise InputError(
                f"a binary campaign sends payloads: {', '.join(unsent)} cannot go with them",
                field=unsent[0],
            )
        try:
            return Binary(self.data_coding, self.esm_class)
        except BinaryError as exc:
            raise InputError(exc.reason, field=exc.field) from None


def _first_routed(s: config.Settings, sender: str) -> Callable[[str], str]:
    """The provider a number's route picks first (SMS_ROUTES, else SMS_PROVIDER)."""

    def gateway(number: str) -> str:
        for route in s.routes:
            if route.matches(number, sender):
                return route.providers[0]
        return s.provider

    return gateway


def _sender(sender: str) -> str:
    try:
        return config.check_sender("sender", sender)
    except ConfigError as exc:  # the caller's sender is bad input, not configuration
        raise InputError(exc.problem, field="sender") from None


def _provider(name: str) -> registry.Spec:
    """The provider a caller asked for; an unknown name is bad input, not configuration."""
    try:
        return registry.get(name)
    except ConfigError as exc:
        raise InputError(str(exc), field="provider") from None


def send_at_ms(send_at: datetime | str | None) -> int:
    """A start time (an aware datetime, or ISO 8601 with a zone) as epoch ms; 0: now."""
    if send_at is None or send_at == "":
        return 0
    if isinstance(send_at, str):
        try:
            send_at = datetime.fromisoformat(send_at.strip())
        except ValueError:
            raise InputError(
                f"send-at {send_at!r} is not an ISO 8601 time", field="send_at"
            ) from None
    if send_at.tzinfo is None:
        raise InputError("send-at needs a time zone, e.g. 2026-12-01T09:00+07:00", field="send_at")
    at_ms = int(send_at.timestamp() * 1000)
    if at_ms - clock.now_ms() > MAX_SEND_AHEAD // timedelta(milliseconds=1):
        raise InputError(
            f"send-at {send_at.isoformat()} is more than {MAX_SEND_AHEAD.days} days ahead",
            field="send_at",
        )
    return at_ms


def import_csv(
    path: str | Path,
    *,
    campaign: str,
    text: str = "",
    sender: str | None = None,
    phone_column: str | None = None,
    delimiter: str | None = None,
    rejects: str | Path | RejectsWriter | None = None,
    settings: config.Settings | None = None,
    progress: bool | Progress = False,
    provider: str | None = None,
    send_at: datetime | str | None = None,
    window: str | None = None,
    gsm_safe: bool = False,
    track_links: bool = False,
    plan_hash: str | None = None,
    options: SendOptions | None = None,
    binary: BinaryPayload | None = None,
) -> ImportReport:
    """Import a CSV file as a campaign; bad rows go to the rejects CSV (`rejects`: its path,
    default FILE.rejects.csv, or a writer that keeps them).  `provider`: the
    gateway to send through (else the routes, else SMS_PROVIDER); `send_at`, `window`,
    `gsm_safe`, `options`: see `_spec`.  `plan_hash`: refuse (PlanChanged) unless the file and the
    campaign's texts are those `plan_csv` gave this hash for."""
    s = _settings(settings)
    path = Path(path)
    spec = _spec(
        s,
        campaign,
        text,
        sender,
        provider,
        send_at,
        window,
        gsm_safe,
        options,
        track_links=track_links,
        binary=binary,
    )
    if plan_hash is not None:
        _approved(plan.file_blocks(path), spec, phone_column, delimiter, plan_hash)
    client = sync_redis(s.redis_url, cluster=s.redis_cluster)
    with open_text(path) as fh, ExitStack() as files:
        source = CsvSource(fh, name=str(path), phone_column=phone_column, delimiter=delimiter)
        if rejects is None or isinstance(rejects, str | Path):
            rejects = SafeCsvWriter(files.enter_context(_rejects_file(path, rejects)))
        kept = rejects if isinstance(rejects, KeptRejects) else KeptRejects()
        writer = rejects if rejects is kept else BothRejects(rejects, kept)
        report = Importer(client, enqueuer(s), spec, writer, _progress(progress)).run(source)
    keep_rejects(client, spec.campaign, kept, s.final_ttl)  # for GET .../rejects
    return report


def _rejects_file(path: Path, rejects: str | Path | None) -> IO[str]:
    return open(
        Path(rejects) if rejects else default_rejects(path), "w", encoding="utf-8", newline=""
    )


def _approved(
    blocks: Iterable[bytes],
    spec: CampaignSpec,
    phone_column: str | None,
    delimiter: str | None,
    wanted: str,
) -> None:
    got = plan.fingerprint(blocks, spec, phone_column, delimiter)
    if got != wanted.strip().lower():
        raise PlanChanged(
            f"the file or the campaign's texts changed since the plan: its hash "
            f"is now {got}, not {wanted.strip()}; run plan again"
        )


def plan_csv(
    path: str | Path,
    *,
    text: str = "",
    sender: str | None = None,
    phone_column: str | None = None,
    delimiter: str | None = None,
    settings: config.Settings | None = None,
    provider: str | None = None,
    send_at: datetime | str | None = None,
    window: str | None = None,
    gsm_safe: bool = False,
    track_links: bool = False,
    options: SendOptions | None = None,
    binary: BinaryPayload | None = None,
    progress: plan.Progress | None = None,
    campaign: str = "plan",
    name: str | None = None,
) -> plan.Plan:
    """A dry run of `import_csv` with the same arguments: nothing is sent or enqueued and
    no campaign is touched (dispatcher.plan).  `name`: what the plan calls the file (its
    path when not given)."""
    s = _settings(settings)
    path = Path(path)
    spec = _spec(
        s,
        campaign,
        text,
        sender,
        provider,
        send_at,
        window,
        gsm_safe,
        options,
        track_links=track_links,
        binary=binary,
    )
    digest = plan.fingerprint(plan.file_blocks(path), spec, phone_column, delimiter)
    with open_text(path) as fh:
        source = CsvSource(fh, name=str(path), phone_column=phone_column, delimiter=delimiter)
        client = sync_redis(s.redis_url, cluster=s.redis_cluster)
        return plan.Planner(client, spec, s, digest, name or str(path), progress).run(source)


def _progress(progress: bool | Progress) -> Progress | None:
    if callable(progress):
        return progress
    if not progress:
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return lambda rp: console.print(
        f"\rimported {rp.rows} rows, {rp.enqueued} batches", end="", highlight=False
    )


def enqueue_campaign(
    recipients: Iterable[Mapping[str, str]],
    *,
    campaign: str,
    text: str = "",
    sender: str | None = None,
    phone_column: str = "phone",
    settings: config.Settings | None = None,
    provider: str | None = None,
    send_at: datetime | str | None = None,
    window: str | None = None,
    gsm_safe: bool = False,
    track_links: bool = False,
    plan_hash: str | None = None,
    options: SendOptions | None = None,
    binary: BinaryPayload | None = None,
) -> ImportReport:
    """A campaign from dicts (one per recipient); returns the same report as import_csv
    (`plan_hash`: what `plan_campaign` gave for the same recipients and texts)."""
    text_csv = _recipients_csv(recipients, phone_column)
    s = _settings(settings)
    spec = _spec(
        s,
        campaign,
        text,
        sender,
        provider,
        send_at,
        window,
        gsm_safe,
        options,
        track_links=track_links,
        binary=binary,
    )
    if plan_hash is not None:
        _approved([text_csv.encode()], spec, phone_column, None, plan_hash)
    client, kept = sync_redis(s.redis_url, cluster=s.redis_cluster), KeptRejects()
    report = Importer(client, enqueuer(s), spec, kept).run(from_csv_text(text_csv, phone_column))
    keep_rejects(client, spec.campaign, kept, s.final_ttl)  # for GET .../rejects
    return report


def plan_campaign(
    recipients: Iterable[Mapping[str, str]],
    *,
    text: str = "",
    sender: str | None = None,
    phone_column: str = "phone",
    settings: config.Settings | None = None,
    provider: str | None = None,
    send_at: datetime | str | None = None,
    window: str | None = None,
    gsm_safe: bool = False,
    track_links: bool = False,
    campaign: str = "plan",
    options: SendOptions | None = None,
    binary: BinaryPayload | None = None,
) -> plan.Plan:
    """A dry run of `enqueue_campaign` with the same arguments (dispatcher.plan)."""
    text_csv = _recipients_csv(recipients, phone_column)
    s = _settings(settings)
    spec = _spec(
        s,
        campaign,
        text,
        sender,
        provider,
        send_at,
        window,
        gsm_safe,
        options,
        track_links=track_links,
        binary=binary,
    )
    digest = plan.fingerprint([text_csv.encode()], spec, phone_column, None)
    client = sync_redis(s.redis_url, cluster=s.redis_cluster)
    source = from_csv_text(text_csv, phone_column)
    return plan.Planner(client, spec, s, digest, "<recipients>").run(source)


def _recipients_csv(recipients: Iterable[Mapping[str, str]], phone_column: str) -> str:
    rows = list(recipients)
    header = list(rows[0].keys()) if rows else [phone_column]
    if phone_column not in header:
        raise InputError(f"no {phone_column!r} key in the recipients", field=phone_column)
    table: Sequence[Sequence[str]] = [[str(r.get(h, "")) for h in header] for r in rows]
    return rows_csv(header, table)


@dataclass(frozen=True)
class Sms:
    """One transactional SMS that passed every check of `send_sms`, nothing written yet."""

    message_id: str
    number: str
    text: str
    spec: CampaignSpec
    # whether it was enqueued before, as the check read it (None: unread, `send_checked`
    # reads it); an Sms is for one `send_checked`: check again before sending again
    enqueued: bool | None = None


def send_sms(
    to: str,
    text: str,
    *,
    key: str | None = None,
    sender: str | None = None,
    campaign: str = API_CAMPAIGN,
    settings: config.Settings | None = None,
    provider: str | None = None,
) -> str:
    """One transactional SMS on the high-priority queue; returns its messageId.

    Pass `key` (your idempotency key, e.g. an order id): the same key gives the same
    messageId, so a retried call never sends twice.  `campaign` takes single messages
    only: the default 'api', or an id of your own that no import uses (see `check_sms`).
    """
    s = _settings(settings)
    return send_checked(
        check_sms(
            to, text, key=key, sender=sender, campaign=campaign, settings=s, provider=provider
        ),
        settings=s,
    )


def check_sms(
    to: str,
    text: str,
    *,
    key: str | None = None,
    sender: str | None = None,
    campaign: str = API_CAMPAIGN,
    settings: config.Settings | None = None,
    provider: str | None = None,
) -> Sms:
    """Everything `send_sms` checks, with nothing written: an InputError naming the field
    (the number, the text, the sender, the provider, the key, a campaign that was imported
    or is the OTPs'), or CampaignCanceled."""
    s = _settings(settings)
    try:
        number = normalise(to, s.region)
    except InputError as exc:  # the number of a CSV's phone column: here it is `to`
        raise InputError(exc.reason, field="to") from None
    spec = _spec(s, campaign, text, sender, provider)
    if why := spec.profile.too_long(text) if spec.profile else "":
        raise InputError(why, field="text")
    if spec.campaign == otp_service.OTP_CAMPAIGN:
        raise InputError(
            f"campaign {spec.campaign!r} holds the one-time PINs (POST /v1/otp)", field="campaign"
        )
    mid = ids.keyed_message_id(spec.campaign, key)
    pipe = state_client(s).pipeline(transaction=False)  # the campaign, and this message
    pipe.hmget(keys.campaign_meta(spec.campaign), *KIND_FIELDS)
    pipe.exists(keys.enqueued_once(mid))
    fields, enqueued = pipe.execute()
    judge_kind(spec.campaign, fields, transactional=True)
    return Sms(mid, number, text, spec, bool(enqueued))


def send_checked(sms: Sms, *, settings: config.Settings | None = None) -> str:
    """Enqueue an SMS `check_sms` passed (once per messageId); returns its messageId."""
    s = _settings(settings)
    mid, spec = sms.message_id, sms.spec
    client = state_client(s)
    marker = keys.enqueued_once(mid)
    if sms.enqueued if sms.enqueued is not None else client.exists(marker):
        return mid  # enqueued before: idempotent
    expires = clock.now_ms() + s.validity_minutes * 60_000
    bulk = ids.transactional_bulk_id(spec.campaign, mid)
    batch = Batch(
        spec.campaign,
        0,
        bulk,
        spec.sender,
        sms.text,
        (Destination(mid, sms.number),),
        expires,
        transactional=True,
        provider=spec.provider,
    )
    enqueuer(s)(batch.to_dict())  # before the marker: a crash here resends, never loses
    if client.set(marker, 1, nx=True, ex=s.final_ttl):
        client.sadd(keys.CAMPAIGNS, spec.campaign)  # a global key: not in the transaction
        pipe = client.pipeline(transaction=True)  # the campaign's keys: one cluster slot
        pipe.hincrby(keys.campaign_counts(spec.campaign), "queued", 1)
        pipe.hincrby(keys.campaign_meta(spec.campaign), "messages", 1)
        pipe.hsetnx(keys.campaign_meta(spec.campaign), KIND, TRANSACTIONAL)
        listed, now = keys.campaign_ids(spec.campaign), clock.now_ms()
        pipe.zadd(listed, {mid: now})  # export's index, kept as long as final states are
        pipe.zremrangebyscore(listed, "-inf", now - s.final_ttl * 1000)
        pipe.expire(listed, s.final_ttl)
        pipe.execute()
    return mid


def message_status(message_id: str, *, settings: config.Settings | None = None) -> dict | None:
    """A message's latest state, as GET /v1/messages/{id} answers it: messageId, state,
    to, campaign, status, error, attempt, provider, ts (epoch ms); None when unknown (or
    its state expired).  Works for send_sms ids, campaign messages and OTP pinIds."""
    from dispatcher import control

    s = _settings(settings)
    return control.message(sync_redis(s.redis_url, cluster=s.redis_cluster), message_id)


def campaign_status(campaign: str, *, settings: config.Settings | None = None) -> dict:
    """A campaign's status, as `smsdispatch status --json` prints it (CampaignNotFound when
    there is none)."""
    from dispatcher import control

    s = _settings(settings)
    return control.status(sync_redis(s.redis_url, cluster=s.redis_cluster), campaign)


def send_otp(
    phone: str, application: str | None = None, *, settings: config.Settings | None = None
) -> str:
    """Send a one-time PIN through the ANTS 2FA API; returns its pinId.

    Raises OtpLimited (with retry_after, seconds) when a send limit is reached:
    OTP_SEND_PER_PHONE, OTP_SEND_PER_APP, the transactional share of SMS_RATE,
    or the gateway's own.  `application` defaults to OTP_APPLICATION_ID.
    """
    s = _settings(settings)
    return otp_service.run(s, lambda o: o.send(phone, application))


def resend_otp(pin_id: str, *, settings: config.Settings | None = None) -> None:
    """Send the same PIN again (same limits as send_otp); OtpNotFound when unknown."""
    s = _settings(settings)
    otp_service.run(s, lambda o: o.resend(pin_id))


def verify_otp(
    pin_id: str, pin: str, *, settings: config.Settings | None = None
) -> otp_service.VerifyResult:
    """Check a PIN: VerifyResult(verified, attempts_remaining, pin_error).

    Raises OtpLimited when OTP_VERIFY_PER_PHONE is exhausted, OtpNotFound for an
    unknown or expired pinId.
    """
    s = _settings(settings)
    return otp_service.run(s, lambda o: o.verify(pin_id, pin))
