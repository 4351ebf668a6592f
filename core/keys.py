"""Every Redis key and stream name the product uses, defined here and nowhere else.

All keys start with `PREFIX` (default `sms:`) so one Redis can be shared with
other applications, and with dramatiq's own `dramatiq:` keys.  A campaign's keys carry
its id as a hash tag (`sms:c:{shop}:meta`: the braces are in the key), so on a Redis
Cluster they share one slot; so do a provider's health keys and its flooding logs.

| key                                   | type   | what                                           |
|---------------------------------------|--------|------------------------------------------------|
| sms:outcomes                          | stream | every state change of every message            |
| sms:campaigns                         | set    | ids of every campaign ever imported            |
| sms:c:{campaign}:meta                 | hash   | sender, text, created, batches, rows, paused,  |
|                                       |        | last_line (export's index of CSV lines)        |
| sms:c:{campaign}:counts               | hash   | messages by state (queued, accepted, ...)      |
| sms:c:{campaign}:n:{bucket}           | hash   | number -> first CSV line (dedupe, re-runnable) |
| sms:c:{campaign}:enqueued             | bitmap | bit {seq} set once batch {seq} is enqueued     |
| sms:c:{campaign}:enqueuing            | hash   | seq -> "{import token}:{ms}" while enqueueing  |
| sms:c:{campaign}:parked               | list   | batches held while the campaign is paused      |
| sms:c:{campaign}:unparking            | zset   | parked batches a resume is moving -> since, ms |
| sms:c:{campaign}:open                 | zset   | ledger buckets holding accepted/pending ones  |
|                                       |        | -> their latest validity end, ms (the sweep)   |
| sms:c:{campaign}:errors               | hash   | "{status}:{error}" -> failures' count          |
| sms:c:{campaign}:providers            | hash   | provider -> messages it took (outcomes.TAKEN)  |
| sms:c:{campaign}:waiting              | hash   | reason code -> messages waiting for it now,    |
|                                       |        | "{code}:next" -> its earliest retry, ms        |
| sms:c:{campaign}:scheduled            | zset   | batches waiting to be enqueued -> due, ms      |
| sms:schedule                          | zset   | campaign -> earliest due of its scheduled ones |
| sms:schedule:lock:{campaign}          | string | a worker is releasing its due batches          |
| sms:c:{campaign}:m:{bucket}           | hash   | the ledger: messages' latest states, packed,   |
|                                       |        | 64 CSV lines to a bucket (core/ledger.py)      |
| sms:c:{campaign}:k:{bucket}           | hash   | send claims held, same fields (workers.claims) |
| sms:m:{messageId}:enqueued            | string | send_sms idempotency marker                    |
| sms:reports:pending                   | stream | polled report bodies, applied then XDEL'd      |
| sms:reports:bad                       | list   | report records (or bodies) refused, with why   |
| sms:reports:pulling:{consumer}        | string | a pull of reports is under way (see poller) |
| sms:pid:{provider}:{id}               | string | a gateway's own id -> our messageId (TTL)      |
| sms:reqno:{provider}                  | string | counter numbering a provider's requests        |
| sms:health:{provider}:b:{bucket}      | hash   | requests, failed, slow in a 10 s bucket        |
| sms:health:{provider}:down|probe      | string | the provider is down / its probe is taken      |
| sms:deadletters                       | zset   | messageIds whose retries ran out -> time       |
| sms:apikeys                           | hash   | SHA-256 of an API key -> {name, scope, created} |
| sms:idem:{caller}:{key}               | string | POST /v1/messages: body hash and messageId     |
| sms:c:{campaign}:rejects              | list   | rejected CSV lines of an API import            |
| sms:c:{campaign}:resent               | hash   | original messageId -> its resends (export, and |
|                                       |        | the resend's idempotency marker)               |
| sms:c:{campaign}:ids                  | zset   | send_sms messageIds -> enqueued, ms (export)   |
| sms:c:{campaign}:dlr                  | hash   | delivery-report latency histogram (le -> n)    |
| sms:c:{campaign}:outbox               | stream | its events before the relay (cluster mode)     |
| sms:deadletter:{messageId}            | hash   | the dead message, its payload and last reason  |
| sms:{optout}                          | hash   | the opt-out list: number -> its packed entry   |
|                                       |        | (core/optout.py)                               |
| sms:{optout}:expiry                   | zset   | its expiring entries -> expiry, s              |
| sms:suppressed                        | set    | before the opt-out list (optout upgrade)       |
| sms:rl:*                              | (lua)  | rate-limit state (see workers/limits)          |
| sms:rl:gcra:{name}                    | string | GCRA theoretical arrival time, µs (PX = TAT)   |
| sms:rl:sem:{name}                     | zset   | semaphore holder -> slot expiry, µs            |
| sms:rl:flood:{provider}:{W}:{slot}:{bucket} | hash | anti-flooding logs: number -> its entries |
|                                       |        | within the slot (see limits/flooding.lua)      |
| sms:otp:*                             | (lua)  | OTP limits and PIN records                     |
| sms:otp:send:{app}:app                | zset   | OTP sends per application log (10000/1d)       |
| sms:otp:send:{app}:phone:{phone}      | zset   | OTP sends per phone number log (3/1d)          |
| sms:otp:verify:{phoneOrPinId}         | zset   | PIN verification log (1/3s)                    |
| sms:otp:pin:{pinId}                   | hash   | a sent PIN: to, app, attempts used (PIN TTL)   |
| sms:l:{tag}                           | hash   | a campaign's tracked links: campaign, clicks,  |
|                                       |        | clicked (messages), ua:{family} counts         |
| sms:l:{tag}:c:{rest}                  | hash   | one short link: target, campaign, messageId,   |
|                                       |        | clicks, first, last, agent (SMS_LINK_TTL)      |
| sms:l:{tag}:ids                       | hash   | "{messageId}#{n}" -> its link's rest (re-runs) |
| sms:l:{tag}:bymsg                     | hash   | messageId -> its clicks (export)               |
| sms:l:{tag}:minutes                   | hash   | epoch minute -> clicks in it (the page's chart)|
| sms:l:{tag}:outbox                    | stream | click events before the relay (cluster mode)   |
"""

from __future__ import annotations

import os

PREFIX = os.environ.get("SMS_KEY_PREFIX", "sms:")

OUTCOMES = f"{PREFIX}outcomes"
CAMPAIGNS = f"{PREFIX}campaigns"
DEADLETTERS = f"{PREFIX}deadletters"
OPTOUT = f"{PREFIX}{{optout}}"
OPTOUT_EXPIRY = f"{PREFIX}{{optout}}:expiry"
LEGACY_SUPPRESSED = f"{PREFIX}suppressed"  # a set, before the opt-out list had reasons
REPORTS_STREAM = f"{PREFIX}reports:pending"
REPORTS_GROUP = "ingest"  # consumer group on REPORTS_STREAM
REPORTS_BAD = f"{PREFIX}reports:bad"


def reports_pulling(consumer: str) -> str:
    """Set while a poller's GET of reports is not yet in the inbox (a lost page shows)."""
    return f"{PREFIX}reports:pulling:{consumer}"


def _campaign(campaign: str) -> str:
    """The head of every key of one campaign: hash-tagged by its id, so a Redis Cluster
    keeps all of them in one slot (one script call may touch any of them)."""
    return f"{PREFIX}c:{{{campaign}}}"


def legacy_campaign_meta(campaign: str) -> str:
    """A campaign's meta in the layout before the ledger (no hash tag): only looked for, so a
    campaign imported then is never imported again (its sends are unknown to the ledger)."""
    return f"{PREFIX}c:{campaign}:meta"


def campaign_meta(campaign: str) -> str:
    return f"{_campaign(campaign)}:meta"


def campaign_counts(campaign: str) -> str:
    return f"{_campaign(campaign)}:counts"


def campaign_numbers(campaign: str, bucket: int) -> str:
    """One bucket of a campaign's number -> first CSV line hashes (dispatcher.dedupe)."""
    return f"{_campaign(campaign)}:n:{bucket}"


def campaign_enqueued(campaign: str) -> str:
    return f"{_campaign(campaign)}:enqueued"


def campaign_enqueuing(campaign: str) -> str:
    """Batches an import is enqueueing right now (seq -> its token and time)."""
    return f"{_campaign(campaign)}:enqueuing"


def campaign_parked(campaign: str) -> str:
    return f"{_campaign(campaign)}:parked"


def campaign_unparking(campaign: str) -> str:
    """Parked batches being moved by a resume (or edited by a drop), one LMOVE at a time."""
    return f"{_campaign(campaign)}:unparking"


def campaign_open(campaign: str) -> str:
    """Ledger buckets with accepted or pending messages, scored by the latest end of their
    validity (the sweep's index)."""
    return f"{_campaign(campaign)}:open"


def campaign_errors(campaign: str) -> str:
    """Failures by "{status}:{error}" (status's top error codes; core.outcomes.FAILURES)."""
    return f"{_campaign(campaign)}:errors"


def campaign_providers(campaign: str) -> str:
    """Messages the gateway took (core.outcomes.TAKEN), by the provider that took them."""
    return f"{_campaign(campaign)}:providers"


def campaign_waiting(campaign: str) -> str:
    """Deferred and retrying messages by why they wait (core.outcomes.Waiting), now."""
    return f"{_campaign(campaign)}:waiting"


def campaign_scheduled(campaign: str) -> str:
    """Batches waiting to be enqueued (core.schedule): batch JSON -> due, ms."""
    return f"{_campaign(campaign)}:scheduled"


SCHEDULE = f"{PREFIX}schedule"  # campaign -> the earliest due of its scheduled batches


def schedule_lock(campaign: str) -> str:
    return f"{PREFIX}schedule:lock:{campaign}"


API_KEYS = f"{PREFIX}apikeys"  # SHA-256 of a key -> {name, scope, created}
AUDIT = f"{PREFIX}audit"  # a stream: every control action, who, what (dispatcher.audit)


def session(digest: str) -> str:
    """An operations-page login: SHA-256 of its cookie -> the SHA-256 of the key that
    opened it (dispatcher.http.sessions); expires with the session."""
    return f"{PREFIX}session:{digest}"


def idempotency(caller: str, key: str) -> str:
    """POST /v1/messages' Idempotency-Key of one caller: body hash and messageId."""
    return f"{PREFIX}idem:{caller}:{key}"


def campaign_rejects(campaign: str) -> str:
    """Rejected lines (CSV) of a campaign imported through the HTTP API."""
    return f"{_campaign(campaign)}:rejects"


def campaign_resent(campaign: str) -> str:
    """Export's index of resends: original messageId -> how many resends it has."""
    return f"{_campaign(campaign)}:resent"


def campaign_ids(campaign: str) -> str:
    """Export's index of the messages with no CSV line (send_sms), in enqueue order."""
    return f"{_campaign(campaign)}:ids"


def outbox(campaign: str) -> str:
    """The campaign's outcome events on their way to the outcome stream (core.outbox): on a
    Redis Cluster, record.lua writes here, in the campaign's slot."""
    return f"{_campaign(campaign)}:outbox"


def campaign_dlr(campaign: str) -> str:
    """Delivery-report latency of the campaign: histogram bucket (le, s) -> count."""
    return f"{_campaign(campaign)}:dlr"


def ledger(campaign: str, bucket: str) -> str:
    """One bucket of a campaign's message states (core.ledger)."""
    return f"{_campaign(campaign)}:m:{bucket}"


def claims(campaign: str, bucket: str) -> str:
    """The send claims held on one ledger bucket's messages (workers.claims)."""
    return f"{_campaign(campaign)}:k:{bucket}"


def enqueued_once(message_id: str) -> str:
    """Marker that an API send with this messageId was enqueued (send_sms idempotency)."""
    return f"{PREFIX}m:{message_id}:enqueued"


def refs(campaign: str, bucket: str) -> str:
    """Where to ask the gateway about one ledger bucket's sent messages (core.refs)."""
    return f"{_campaign(campaign)}:ref:{bucket}"


def campaign_chart(campaign: str, step_s: int) -> str:
    """A campaign's sent and delivered counts over time, a point every `step_s` seconds
    (dispatcher.http.chart)."""
    return f"{_campaign(campaign)}:chart:{step_s}s"


def campaign_unknown(campaign: str) -> str:
    """The messages held `unknown`: messageId -> the batch to resend it with (core.unknown)."""
    return f"{_campaign(campaign)}:unknown"


def request_numbers(provider: str) -> str:
    """The counter that numbers a provider's requests (`Profile.numbered_requests`)."""
    return f"{PREFIX}reqno:{provider}"


def provider_id(provider: str, pid: str) -> str:
    """Our messageId for an id a gateway gave (or was given) in its own form."""
    return f"{PREFIX}pid:{provider}:{pid}"


HEALTH = f"{PREFIX}health:"  # workers/health.lua builds its keys the way `health` does


def health(provider: str, what: str) -> str:
    """One of a provider's health keys: `down`, `probe`, `streak`, `b:{bucket}`."""
    return f"{HEALTH}{{{provider}}}:{what}"


def deadletter(message_id: str) -> str:
    return f"{PREFIX}deadletter:{message_id}"


def ratelimit(name: str) -> str:
    """Namespace for the limiter scripts' own keys, e.g. ratelimit('gcra:account')."""
    return f"{PREFIX}rl:{name}"


def otp(name: str) -> str:
    """Namespace for OTP keys, e.g. otp('pin:{pinId}')."""
    return f"{PREFIX}otp:{name}"


def gcra(name: str) -> str:
    """GCRA bucket of one throughput limit (e.g. one gateway account)."""
    return ratelimit(f"gcra:{name}")


def semaphore(name: str) -> str:
    """Concurrency slots of one gateway account."""
    return ratelimit(f"sem:{name}")


def flood_log(provider: str = "") -> str:
    """Prefix of one provider's anti-flooding logs (core/limits/flooding.lua adds the rest);
    its hash tag keeps them in one cluster slot."""
    return ratelimit(f"flood:{{{provider or '-'}}}:")


def otp_send_app(app: str) -> str:
    """Log of OTP sends by one 2FA application (hash-tagged by it, with its phones' logs:
    one script call checks both, in one cluster slot)."""
    return otp(f"send:{{{app}}}:app")


def otp_send_phone(app: str, phone: str) -> str:
    """Log of OTP sends by one 2FA application to one phone number."""
    return otp(f"send:{{{app}}}:phone:{phone}")


def otp_verify(subject: str) -> str:
    """Log of PIN verifications for one phone number (or PIN id)."""
    return otp(f"verify:{subject}")


def otp_pin(pin_id: str) -> str:
    """A PIN we sent: phone, application and verification attempts used."""
    return otp(f"pin:{pin_id}")


LINK_TAG_FIELD = "link_tag"  # the campaign meta's field naming its link tag


def link_tag(tag: str) -> str:
    """A campaign's tracked links (dispatcher.links): the campaign that owns the tag, its
    clicks, clicked messages and clicks by user-agent family.  Every key of the tag's
    links carries the tag as a hash tag: one click touches one Redis Cluster slot."""
    return f"{PREFIX}l:{{{tag}}}"


def link(tag: str, rest: str) -> str:
    """One short link (its code is the tag, then `rest`): target, campaign, messageId, clicks."""
    return f"{link_tag(tag)}:c:{rest}"


def link_ids(tag: str) -> str:
    """Which link each message got: "{messageId}#{n}" -> the rest of its code (re-runs)."""
    return f"{link_tag(tag)}:ids"


def link_clicks_by_message(tag: str) -> str:
    """Clicks of each message that has some: messageId -> clicks (the export's column)."""
    return f"{link_tag(tag)}:bymsg"


def link_minutes(tag: str) -> str:
    """Clicks by epoch minute (the campaign page's clicks over time)."""
    return f"{link_tag(tag)}:minutes"


def link_outbox(tag: str) -> str:
    """Click events on their way to the outcome stream on a Redis Cluster (core.outbox)."""
    return f"{link_tag(tag)}:outbox"
