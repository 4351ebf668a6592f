"""SMSC.ru sender: a batch becomes one `send.php` request, `lookup` one `status.php` request.

What SMSC.ru's public HTTP API says (and where it was read)
-----------------------------------------------------------
Sources: the seed /work/shared/seeds/smsc-status-and-errors.txt (status.php: answers for
fmt 0-3 and all 0-2, error codes 1, 2, 4, 5, 9); SMSC's API pages https://smsc.ru/api/http/
(index: send, status, balance ...; backup server www2.smsc.ru), https://smsc.ru/api/smtp/send
(the same parameters: `login`, `psw` (an empty login makes `psw` an API key), `id`,
`phones` or `list`), https://smsc.ru/api/code/libraries/http_smtp/php/ (SMSC's own PHP
library 3.8: `/sys/send.php`, `/sys/status.php`, POST allowed, default charset
windows-1251); https://metacpan.org/pod/SMS::API::SMSC and
https://hackage.haskell.org/package/servant-smsc-ru-0.1.0.0/docs/Servant-API-SMSC-RU-API.html
(the send answer: `id`, `cnt`, `cost`, `balance`, `phones[{phone, mccmnc, cost, status,
error}]`; an error answer `error`, `error_code`, `id`); and several public client libraries
(C#, Go, PHP, Python) that quote the parameter descriptions of smsc.ru/api/http/send/:

* `POST https://smsc.ru/sys/send.php`, form fields: `login`, `psw`; `phones` (numbers in
  international format, separated by commas or semicolons) with `mes` (the text, at most
  1,000 characters, split into parts as needed), or instead `list` ("phones1:mes1\\n
  phones2:mes2": a text per number, lines separated by a newline; a line break inside a
  text is written `\\n`); `sender` (Latin letters, digits, space and some symbols: 11
  characters, or 15 digits); `charset` (utf-8, koi8-r or windows-1251, the default);
  `valid` (validity, 1 to 24 hours, or hh:mm); `fmt` (0 text, 1 numbers, 2 XML, 3 JSON);
  `cost` (1 price only, 2 and 3 also send); `err=1` (add the list of bad numbers with
  their statuses) and `op=1` (add every number with its status, mcc/mnc, cost and, for a
  bad number, its error code); `flash=1` (a flash SMS, shown at once and not stored) and
  `translit` (1: Cyrillic written in Latin letters, 2: in look-alike letters, 0: as it
  is; metacpan's SMS::API::SMSC quotes "translit (1, 2 or 0)").
* `id`: "assigned by the client, identifies the message later; not necessarily unique:
  with two equal ids a status request gives the last message's status.  A 32-bit number
  from 1 to 2147483647, or a string of up to 40 Latin letters, digits and '.-_'."  ONE id
  per request: every number of a request shares it, and a message is (id, phone).
* fmt=3 answer: `{"id": ..., "cnt": <SMS parts>}` (+ `cost`, `balance` with cost=2/3,
  + `phones` with op=1 / err=1); an error: `{"error": "...", "error_code": N[, "id": ...]}`
  with HTTP 200.  send.php's errors: 1 parameters, 2 login/password or IP not allowed,
  3 no funds, 4 IP temporarily blocked after frequent errors, 5 bad date format, 6 message
  forbidden (text or sender name), 7 bad number format, 8 cannot be delivered to the
  number, 9 the same send request more than once (or a price request more than five
  times) within a minute, also too many concurrent requests of one login (libraries quote
  "fifteen or more" for send.php; the seed says "five or more" for status.php).
* `POST /sys/status.php`: `login`, `psw`, `phone`, `id`, `fmt`, `all` (0-2).  Several at
  once: `phone` and `id` are comma-separated lists in the same order (a trailing comma
  keeps the multiple form for one); fmt=3 then answers a JSON array whose items carry
  `id` and (all=0) `phone`.  Status -3: not found (or archived).  Error 9 there: more
  than five status requests for one message, or more than one *mass* request, within a
  minute; or five or more concurrent requests of one login.

What this sender does with it
-----------------------------
* Ids: SMSC gives a whole request one `id`, so it names a message by (id, phone) and our
  per-destination messageIds cannot travel.  The request id is derived from the batch's
  bulkId (every follow-up of a batch, hence every resend of a destination, carries it):
  the bulkId itself when it fits (`[a-z0-9._-]{1,40}`, not all digits, not starting
  with `_`; lower case only, in case SMSC compares ids without case), else `_` + the first
  39 hex digits of its SHA-256.  The two forms never meet (`_`), and two different bulkIds
  get the same derived id with probability ~n^2 / 2^157 (n = bulkIds ever used: 1e9 of
  them give ~1e-29).  `Result.provider_id` is `{id}:{phone}` (`provider_key`), and the
  SMSC spec registers `own_ids=True`.  A bulkId carries each number once (the campaign
  import dedupes numbers; resends get bulkIds of their own): a number repeated within one
  request is refused here (DUPLICATE_NUMBER) rather than sent under an ambiguous key.
* Send: a shared text is one `phones` + `mes` request; personalised texts one `list`
  request (a text with a CR or a literal backslash-n cannot be written in `list`
  unambiguously: such texts go in `phones` + `mes` requests of their own, one per text).
  `op=1` makes the answer say each number's fate: listed without an error: accepted;
  listed with a status or error: that verdict (`codes.classify_message`); not listed:
  unknown outcome (asked about later).  `valid` is the time left, at most 24:00.
* Lookup: ONE `status.php` request for all of a batch's destinations, however many (the
  multiple form, since more than one mass request a minute is error 9, throttled for a
  minute like every 9; one destination: the single form), fmt=3, all=0.  Each status is
  read by `codes.classify_found`: -3 (not found): not taken; taken (`codes.TAKEN_STATUSES`:
  -2 to 4, 20, 25): ALREADY_DONE, and when final, `Result.state` is its delivery state
  (the worker records `accepted`, then that state, never `failed`); refused before
  sending (22-24): that verdict.  A destination the answer does not mention, or a record
  it cannot read, makes the whole lookup fail (GatewayProtocolError): the worker asks
  again later, it never guesses "not taken".
* Options (`core.options`): flash is `flash=1`, transliteration CYRILLIC is `translit=1`
  (the only table it has); a form carries neither when not asked.  SMSC has no national
  language tables and no intermediate reports to ask for: its Profile says so, and the
  worker never sends a batch asking for them here.
* Errors: SMSC answers its errors with HTTP 200; they go through `http.error_for` with
  the verdicts of `codes.SEND_ERRORS` (status.php: `codes.REQUEST_ERRORS`): 2, 3, 4 pause
  the campaign, 1, 5, 6 too (a request refused for what it is: never burn the messages),
  7 and 8 fail the request's destinations, 9 is throttled for a minute.  Another HTTP
  status comes from a proxy or a wrong URL (`codes.classify_http`).  An answer that
  cannot be read raises GatewayProtocolError (it may have been taken: asked before a
  resend).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from config.settings import Settings
from core.batch import OPTIONS_KEY, Batch, Destination
from core.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRequestError,
    GatewayThrottled,
)
from core.options import SendOptions
from providers import http
from providers.base import NOT_IN_TIME, Action, Result, Verdict, budget_s
from providers.reports import ReportParseError
from providers.smsc import codes
from providers.smsc.reports import parse_status

SEND_PATH = "/sys/send.php"
STATUS_PATH = "/sys/status.php"
MAX_VALIDITY_MINUTES = 1440  # `valid`: 1 to 24 hours
MAX_TEXT_CHARS = 1000  # `mes`: at most 1,000 characters
TRANSLIT_CYRILLIC = "CYRILLIC"  # `translit=1`: Cyrillic into Latin letters
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
_PLAIN_ID = re.compile(r"[a-z0-9._-]{1,40}")
DERIVED_PREFIX = "_"
DERIVED_HEX = 39
BODY_CHARS = 500
DUPLICATE = Verdict(
    Action.PERMANENT,
    "DUPLICATE_NUMBER",
    "DUPLICATE_NUMBER",
    "the number is in this batch twice: SMSC names a message by (id, number)",
    permanent=True,
)

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_VALIDITY_MINUTES",
    "TRANSLIT_CYRILLIC",
    "SmscSender",
    "provider_key",
    "smsc_id",
]


def smsc_id(bulk_id: str) -> str:
    """The SMSC `id` of a batch's requests: the bulkId when it fits, else a hash of it."""
    if _PLAIN_ID.fullmatch(bulk_id) and not bulk_id.isdigit() and bulk_id[0] != DERIVED_PREFIX:
        return bulk_id
    digest = hashlib.sha256(bulk_id.encode("utf-8")).hexdigest()[:DERIVED_HEX]
    return DERIVED_PREFIX + digest


def provider_key(sid: str, phone: str) -> str:
    """How SMSC names one message: its request id and its number (`Result.provider_id`)."""
    return f"{sid}:{digits(phone)}"


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def validity(expires_at_ms: int, now_ms: float | None = None) -> str:
    """`valid` as hh:mm: the time left until the batch expires, 00:01 to 24:00."""
    now = time.time() * 1000 if now_ms is None else now_ms
    minutes = max(1, min(MAX_VALIDITY_MINUTES, int((expires_at_ms - now) / 60_000)))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def option_fields(options: SendOptions) -> dict[str, str]:
    """send.php's fields for a campaign's message options (only those asked)."""
    fields = {}
    if options.flash:
        fields["flash"] = "1"
    if options.transliteration == TRANSLIT_CYRILLIC:
        fields["translit"] = "1"
    return fields


def listable(text: str) -> bool:
    """Whether `list` can carry this text exactly (line breaks written as backslash-n)."""
    return "\r" not in text and "\\n" not in text


class SmscSender:
    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        base = settings.smsc_base_url.rstrip("/")
        self.send_url = base + SEND_PATH
        self.status_url = base + STATUS_PATH
        self.auth = {"login": settings.smsc_login, "psw": settings.smsc_password}
        self.timeout = aiohttp.ClientTimeout(total=settings.http_timeout)

    # ------------------------------------------------------------ send

    def requests(self, batch: Batch, dests: Sequence[Destination]) -> list[dict[str, str]]:
        """The send.php forms for these destinations (numbers unique)."""
        common = {
            **self.auth,
            "sender": batch.sender,
            "id": smsc_id(batch.bulk_id),
            "valid": validity(batch.expires_at),
            "fmt": "3",
            "charset": "utf-8",
            "op": "1",
            **option_fields(SendOptions.from_meta(batch.meta.get(OPTIONS_KEY))),
        }
        if batch.text is not None:
            return [{**common, "phones": ",".join(d.to for d in dests), "mes": batch.text}]
        forms: list[dict[str, str]] = []
        lines = [f"{d.to}:{batch.text_of(d)}" for d in dests if listable(batch.text_of(d))]
        if lines:
            forms.append({**common, "list": "\n".join(line.replace("\n", "\\n") for line in lines)})
        by_text: dict[str, list[str]] = {}
        for d in dests:
            if not listable(batch.text_of(d)):
                by_text.setdefault(batch.text_of(d), []).append(d.to)
        forms += [{**common, "phones": ",".join(tos), "mes": text} for text, tos in by_text.items()]
        return forms

    def provider_ids(self, batch: Batch) -> dict[str, str]:
        """Of the destinations `send` sends (a repeated number goes once: its first)."""
        sid = smsc_id(batch.bulk_id)
        dests, _ = _unique_numbers(batch.destinations)
        return {d.message_id: provider_key(sid, d.to) for d in dests}

    async def send(self, batch: Batch) -> list[Result]:
        """Send; per-destination results, or a GatewayError for the whole request.  Several
        forms (texts `list` cannot carry) go one after the other within ONE time budget
        (`providers.base.budget_s`); one that cannot start in time is NOT_SENT_IN_TIME."""
        sid = smsc_id(batch.bulk_id)
        dests, results = _unique_numbers(batch.destinations)
        by_number = {digits(d.to): d for d in dests}
        forms = self.requests(batch, dests) if dests else []
        deadline = time.monotonic() + self.settings.http_timeout
        for i, form in enumerate(forms):
            mine = [by_number[digits(p)] for p in _numbers_of(form)]
            left = deadline - time.monotonic()
            if i and left < budget_s(self.settings.http_timeout):
                results += [Result(d.message_id, d.to, NOT_IN_TIME) for d in mine]
                continue
            try:
                answer = await self._post(self.send_url, form, left)
                results += parse_send(check_send(answer, mine), mine, sid)
            except GatewayError as exc:
                codes.in_window(exc, self.settings.smsc_window_s)
                if i == 0:  # nothing of the batch went out yet: the whole request failed
                    raise
                results += _failed(exc, mine, sid)  # earlier requests were taken: keep them
        return results

    async def _post(
        self, url: str, form: dict[str, str], seconds: float | None = None
    ) -> http.Answer:
        timeout = self.timeout if seconds is None else aiohttp.ClientTimeout(total=seconds)
        return await http.request(
            self.session,
            "POST",
            url,
            timeout=timeout,
            headers=FORM_HEADERS,
            data=urlencode(form).encode(),
        )

    # ------------------------------------------------------------ lookup

    async def lookup(self, batch: Batch) -> dict[str, Result]:
        """What SMSC has of these destinations (absent: not taken), from ONE status.php
        request (a second mass request within a minute would be error 9)."""
        sid = smsc_id(batch.bulk_id)
        dests, _ = _unique_numbers(batch.destinations)
        if not dests:
            return {}
        phones, ids = ",".join(d.to for d in dests), ",".join(sid for _ in dests)
        form = {**self.auth, "phone": phones, "id": ids, "fmt": "3", "all": "0", "charset": "utf-8"}
        try:
            return parse_lookup(await self._post(self.status_url, form), dests, sid)
        except GatewayError as exc:
            raise codes.in_window(exc, self.settings.smsc_window_s) from None


def _unique_numbers(dests: Iterable[Destination]) -> tuple[list[Destination], list[Result]]:
    """The destinations with a number not seen before in the batch, and a refusal for the
    others (SMSC could not tell them apart)."""
    seen: set[str] = set()
    unique: list[Destination] = []
    refused: list[Result] = []
    for d in dests:
        number = digits(d.to)
        if number in seen:
            refused.append(Result(d.message_id, d.to, DUPLICATE))
        else:
            seen.add(number)
            unique.append(d)
    return unique, refused


def _numbers_of(form: dict[str, str]) -> list[str]:
    if "phones" in form:
        return form["phones"].split(",")
    return [line.split(":", 1)[0] for line in form["list"].split("\n")]


def _failed(exc: GatewayError, dests: list[Destination], sid: str) -> list[Result]:
    """A later request of a personalised batch failed as a whole: the verdict for each of
    its destinations (none when it may have been taken: their outcome is unknown)."""
    if exc.maybe_sent:
        return []
    if isinstance(exc, GatewayRequestError):
        action = Action.PERMANENT
    elif exc.fatal:
        action = Action.FATAL
    else:
        action = Action.THROTTLED if isinstance(exc, GatewayThrottled) else Action.RETRY
    v = Verdict(
        action,
        exc.code or str(exc.status or ""),
        type(exc).__name__,
        str(exc)[:200],
        permanent=action is Action.PERMANENT,
        retry_after=exc.retry_after,
    )
    return [Result(d.message_id, d.to, v, provider_id=provider_key(sid, d.to)) for d in dests]


def _body(raw: bytes) -> str:
    return raw[:BODY_CHARS].decode("utf-8", "replace")


def _http_error(answer: http.Answer) -> None:
    verdict = codes.classify_http(answer.status, answer.headers.get("Retry-After"))
    if verdict is not None:
        raise http.error_for(verdict, answer.status, answer.body)


def _json(answer: http.Answer, what: str) -> Any:
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError as exc:
        raise GatewayProtocolError(
            f"unreadable {what} answer: {exc}", status=answer.status, body=_body(answer.body)
        ) from exc


def check_send(answer: http.Answer, dests: Sequence[Destination]) -> dict[str, Any]:
    """The body of a send.php answer that is not an error; an error raises its GatewayError:
    7 and 8 (about the numbers) name the request's destinations, the others none."""
    _http_error(answer)
    doc = _json(answer, "send.php")
    if not isinstance(doc, dict):
        raise GatewayProtocolError(
            "send.php answer is not a JSON object", status=answer.status, body=_body(answer.body)
        )
    if "error_code" in doc or "error" in doc:
        code = str(doc.get("error_code", "")).strip()
        verdict = codes.classify_send_error(code)
        if doc.get("error"):
            verdict = Verdict(
                verdict.action,
                verdict.code,
                verdict.name,
                str(doc["error"])[:200],
                verdict.permanent,
                verdict.suppress,
                verdict.retry_after,
            )
        named = tuple(d.message_id for d in dests) if code in codes.NUMBER_ERRORS else ()
        raise http.error_for(verdict, answer.status, answer.body, named)
    return doc


def parse_send(doc: dict[str, Any], dests: Sequence[Destination], sid: str) -> list[Result]:
    """The `phones` list (op=1) as per-destination results; a number it does not list (or an
    answer without the list) has an unknown outcome."""
    phones = doc.get("phones")
    if not isinstance(phones, list):
        return []
    entries: dict[str, dict[str, Any]] = {}
    for entry in phones:
        if isinstance(entry, dict) and isinstance(entry.get("phone"), str | int):
            entries.setdefault(digits(str(entry["phone"])), entry)
    verdicts = {
        d.message_id: codes.classify_message(entry.get("status"), entry.get("error"))
        for d in dests
        if (entry := entries.get(digits(d.to))) is not None
    }
    taken = sum(1 for v in verdicts.values() if v.action is Action.ACCEPTED)
    parts = _count(doc.get("cnt")) // taken if taken else 0  # `cnt`: parts of the request
    out = []
    for d in dests:
        verdict = verdicts.get(d.message_id)
        if verdict is None:
            continue
        count = parts if verdict.action is Action.ACCEPTED else 0
        status = str(entries[digits(d.to)].get("status", ""))
        out.append(Result(d.message_id, d.to, verdict, status, count, provider_key(sid, d.to)))
    return out


def parse_lookup(answer: http.Answer, dests: Sequence[Destination], sid: str) -> dict[str, Result]:
    """A status.php answer about `dests` (all under `sid`) -> what SMSC has of them."""
    _http_error(answer)
    single = len(dests) == 1
    ids = sid if single else ",".join(sid for _ in dests)
    phones = dests[0].to if single else ",".join(d.to for d in dests)
    try:
        parsed = parse_status(answer.body, 3, 0, message_id=ids, phone=phones, charset="utf-8")
    except ReportParseError as exc:
        if exc.code:
            raise http.error_for(
                codes.classify_error(exc.code), answer.status, answer.body
            ) from exc
        raise GatewayProtocolError(
            f"unreadable status.php answer: {exc}", status=answer.status, body=_body(answer.body)
        ) from exc
    if parsed.rejected:
        raise GatewayProtocolError(
            f"status.php answer with unreadable records: {parsed.rejected[0]}",
            body=_body(answer.body),
        )
    reports = {(r.message_id, digits(r.to)): r for r in parsed.reports}
    found: dict[str, Result] = {}
    for d in dests:
        report = reports.get((sid, digits(d.to)))
        if report is None:
            raise GatewayProtocolError(
                f"status.php answer says nothing of {d.to} (id {sid})", body=_body(answer.body)
            )
        if report.status_code == str(codes.NOT_FOUND):
            continue
        verdict, state = codes.classify_found(report.status_code, report.error_code)
        found[d.message_id] = Result(
            d.message_id,
            d.to,
            verdict,
            report.status_code,
            report.sms_count or 0,
            provider_key(sid, d.to),
            state=state,
        )
    return found


def _count(value: object) -> int:
    """`cnt` is informational: a malformed one is 0, never a reason to resend."""
    if not isinstance(value, int | float | str):
        return 0  # None, a list, an object: int() refuses them
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0
