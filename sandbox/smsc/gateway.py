"""What one SMSC sandbox holds and decides: messages by (id, phone), limits, send and status.

A message is named by its request's `id` and its number, as SMSC names it.  The shared
`SandboxState` counts sends under the key `{id}:{phone}` (`key`): `accepted[key]` is the
number of times that message was taken (more than 1 only when it was sent again; with
`dedupe_ids` on, a repeat is answered as taken but neither sent nor counted: it shows in
`seen`).  `inflight` / `maxConcurrentRequests` count every API request (send and status:
SMSC's cap is on all requests of a login), refused ones included.

Numbers: digits after dropping `+`, spaces, dashes and brackets; 7 to 15 of them, else
the number is refused (status 22).  `bad_prefixes` -> 25 (no route), `blacklist` -> 23.
A refused number is kept as a message with that status (a status request finds it).
A taken one is "transferred to the operator" (0) until its delivery report would be due
(`dlr.delay_ms`), then its outcome drawn from `dlr.outcomes` (1 delivered, 20
undeliverable, 3 expired, and 25 with err 11 for UNDELIVERABLE_PERMANENT).  Not found: -3.

Where SMSC.ru's documentation is ambiguous, the sandbox takes the reading that hurts the
client most (sources: the seed /work/shared/seeds/smsc-status-and-errors.txt, "the seed";
smsc.ru/api/http/ and its English copy smscentre.com/api/http/, "the API pages"):

* Status requests (the seed, error 9: "more than five requests to get the status of the
  same message or more than one mass request within a minute"): every status.php request
  counts, whoever sends it (a lookup before a resend, a poller, anything): a mass request
  (the multiple form, several ids/phones or a trailing comma) counts once against the
  login's one mass request a minute AND once against each message it names; a single
  request against its message.  Every request received counts, refused ones too (an
  "attempt to send" is what the seed limits): a client that asks again before the minute
  is over stays refused.  A request over either limit is refused whole (error 9).
* The same send request twice within a minute (the API pages, send.php error 9): a repeat
  is refused even when the first failed (an injected HTTP 500, an error answer, a request
  refused for concurrency: the gateway received it) and every repeat restarts the minute;
  "the same" is every parameter equal (`identical_sends_per_minute`, on by default).  A
  request that differs, or comes after the minute, is taken and counted again.
* Concurrency (the seed: "five or more requests simultaneously ... under the same
  username"; libraries quote "fifteen or more" for send.php): five for every request of a
  login, send.php and status.php alike (`concurrency` 4: the fifth in flight is error 9),
  refused and hung requests included while the gateway holds them.
* A reused id (the API pages: "not necessarily unique") is taken and billed again, and a
  status request about it answers the last message's status.
* Status 25 ("the number does not accept SMS, or there is no working route to its
  operator": SMSC's status list) comes both ways: at once, for a number refused in the
  send answer (`bad_prefixes`), and after taking, as the final outcome of a message sent
  and billed (UNDELIVERABLE_PERMANENT): a client that reads 25 as "never sent" is wrong
  about the second.
* `list` carries one text per number (a number listed twice in a request goes once, with
  its first text).
* `flash` (0 or 1) and `translit` (0, 1 or 2): any other value, or one that is not a
  number, refuses the request (error 1, parameters); what a message was taken with is
  kept (`state.options` by `{id}:{phone}`, `GET /_sandbox/state?options=1`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.gateway import Sandbox
from sandbox.parts import count_parts
from sandbox.settings import SandboxSettings
from sandbox.smsc import answers
from sandbox.smsc.settings import SmscSettings

Json = dict[str, Any]

ID_RE = re.compile(r"[A-Za-z0-9._-]{1,40}")
MAX_NUMERIC_ID = 2_147_483_647
SENDER_RE = re.compile(r"\d{1,15}|[!-~][ -~]{0,10}")
VALID_RE = re.compile(r"(\d{1,2}):(\d{2})")
NUMBER_RE = re.compile(r"\d{7,15}")
PHONE_JUNK = str.maketrans("", "", "+ -()")
OUTCOMES = {
    "DELIVERED": (1, 0),
    "UNDELIVERABLE": (20, 6),
    "UNDELIVERABLE_PERMANENT": (25, 11),
    "EXPIRED": (3, 0),
}
STATUS_NAMES = {
    -3: "Message not found",
    -1: "Waiting to be sent",
    0: "Transferred to the operator",
    1: "Delivered",
    3: "Expired",
    20: "Impossible to deliver",
    22: "Invalid number",
    23: "Prohibited",
    24: "Insufficient funds",
    25: "Unavailable number",
}
REFUSALS = {22: "INVALID_NUMBER", 23: "PROHIBITED", 25: "UNAVAILABLE_NUMBER"}


class SmscError(Exception):
    """A whole request refused with SMSC error `code`."""

    def __init__(self, code: int, sid: str = "") -> None:
        self.code, self.sid = code, sid
        super().__init__(answers.ERRORS.get(code, "error"))


@dataclass(slots=True)
class Message:
    sid: str
    phone: str
    text: str
    sender: str
    parts: int
    cost: float
    sent_at: float  # wall time
    due: float  # wall time its final status shows
    final: int  # the status it gets at `due` (or at once, when refused)
    err: int = 0

    def record(self, now: float) -> Json:
        status, err = (self.final, self.err) if now >= self.due else (0, 0)
        last = self.due if now >= self.due else self.sent_at
        return {
            "status": status,
            "last_date": _date(last),
            "last_timestamp": int(last),
            "flag": 0,
            "err": err,
            "send_date": _date(self.sent_at),
            "send_timestamp": int(self.sent_at),
            "phone": self.phone,
            "cost": f"{self.cost:.2f}",
            "sender_id": self.sender,
            "status_name": STATUS_NAMES.get(status, str(status)),
            "message": self.text,
            "comment": "",
            "type": 0,
            "sms_cnt": self.parts,
            "mccmnc": "",
            "country": "",
            "operator": "",
            "operator_orig": "",
            "region": "",
            "id": self.sid,
        }


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d.%m.%Y %H:%M:%S")


def key(sid: str, phone: str) -> str:
    """How the counting state names a message: `{id}:{phone}`."""
    return f"{sid}:{phone}"


def number_of(raw: str) -> str:
    return raw.strip().translate(PHONE_JUNK)


def norm_id(raw: str) -> str:
    """A client id as SMSC keeps it ("" when it is not a valid id)."""
    raw = raw.strip()
    if raw.isdigit():
        value = int(raw)
        return str(value) if 1 <= value <= MAX_NUMERIC_ID else ""
    return raw if ID_RE.fullmatch(raw) else ""


def _int(params: Mapping[str, str], name: str, default: int, allowed: range) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) not in allowed:
        raise SmscError(1)
    return int(text)


class SmscSandbox(Sandbox):
    """A Sandbox (shared state, faults, control routes) that speaks SMSC.ru's API."""

    def __init__(self, settings: SandboxSettings, smsc: SmscSettings | None = None) -> None:
        super().__init__(settings)
        self.smsc = smsc or SmscSettings()
        self._clear()

    def _clear(self) -> None:
        self.messages: dict[tuple[str, str], Message] = {}
        self.logins: Counter[str] = Counter()  # requests in flight per login
        self.status_windows: dict[tuple[str, str], deque[float]] = {}
        self.mass_windows: dict[str, deque[float]] = {}
        self.send_windows: dict[tuple[str, int], deque[float]] = {}  # identical requests
        self.auto_ids = 0

    def reset(self) -> None:
        super().reset()
        self._clear()

    # -- limits ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def login_slot(self, login: str) -> Iterator[bool]:
        """Count a request of `login` in flight; yields whether it is one too many."""
        epoch = self.state.epoch
        self.logins[login] += 1
        cap = self.smsc.concurrency
        try:
            yield cap > 0 and self.logins[login] > cap
        finally:
            if epoch == self.state.epoch:
                self.logins[login] -= 1

    def _count(self, windows: dict[Any, deque[float]], name: Any, limit: int) -> bool:
        """Count one more request under `name` (every request received counts, refused
        ones too); whether it is within `limit` per window."""
        if limit <= 0:
            return True
        now = time.monotonic()
        times = windows.setdefault(name, deque())
        while times and now - times[0] >= self.smsc.window_s:
            times.popleft()
        times.append(now)
        return len(times) <= limit

    def repeated_send(self, params: Mapping[str, str]) -> bool:
        """Count a send request received (whatever becomes of it); whether it repeats one
        received within the minute, every parameter equal."""
        fingerprint = hash(tuple(sorted(params.items())))
        name = (params.get("login", ""), fingerprint)
        return not self._count(self.send_windows, name, self.smsc.identical_sends_per_minute)

    def authorized_smsc(self, params: Mapping[str, str]) -> bool:
        s = self.settings
        login, psw = params.get("login", ""), params.get("psw", "")
        if not login:
            return bool(psw) and psw == s.api_key  # an empty login: psw is an API key
        return login == s.username and psw == s.password

    def refuse(self, code: int) -> None:
        self.state.statuses[f"ERROR_{code}"] += 1

    # -- send.php -------------------------------------------------------------------------

    def send(self, params: Mapping[str, str]) -> tuple[int, str, int, list[Json], float]:
        """Check and take a send request: (fmt-independent) id, cnt, phones list, cost.

        Raises SmscError for a request refused as a whole."""
        s, state = self.settings, self.state
        cost_mode = _int(params, "cost", 0, range(4))
        flash, translit = _int(params, "flash", 0, range(2)), _int(params, "translit", 0, range(3))
        options = {n: v for n, v in (("flash", flash), ("translit", translit)) if v}
        pairs = self._pairs(params)
        sid = self._id(params)
        sender = params.get("sender", "")
        if sender and sender != "." and not SENDER_RE.fullmatch(sender):
            raise SmscError(6, sid)
        valid = params.get("valid", "").strip()
        if valid and not self._valid(valid):
            raise SmscError(1, sid)
        numbers = [(number_of(p), text) for p, text in pairs]
        if not any(NUMBER_RE.fullmatch(n) for n, _ in numbers):
            raise SmscError(7, sid)
        now = time.time()
        plan: list[tuple[str, str, int, int]] = []  # number, text, parts, refusal status
        seen: set[str] = set()
        for number, text in numbers:
            if number in seen:  # SMSC sends a number once per request
                continue
            seen.add(number)
            parts = count_parts(text)
            plan.append((number, text, parts, self._refusal(number)))
        price = s.price_per_part
        total = sum(parts * price for _, _, parts, refused in plan if not refused)
        if cost_mode != 1 and total > state.credit:
            raise SmscError(3, sid)
        phones: list[Json] = []
        cnt = 0
        for number, text, parts, refused in plan:
            entry: Json = {"phone": number, "mccmnc": "0", "cost": "0.00"}
            if refused:
                entry |= {"status": str(refused), "error": "1" if refused == 22 else "0"}
                state.statuses[REFUSALS[refused]] += 1
            else:
                entry["cost"] = f"{parts * price:.2f}"
                cnt += parts
            phones.append(entry)
            if cost_mode != 1:
                self._take(sid, number, text, sender, parts, price, refused, now)
                if options and not refused:
                    state.options[key(sid, number)] = options
        state.destinations_received += len(plan)
        return sid, cnt, phones, total

    def _pairs(self, params: Mapping[str, str]) -> list[tuple[str, str]]:
        """(number as given, text) for `phones` + `mes`, or for each line of `list`."""
        limit = self.smsc.max_text_chars
        if params.get("list", "").strip():
            pairs = []
            for line in params["list"].split("\n"):
                if not line.strip():
                    continue
                cut = min((i for i in (line.find(":"), line.find(";")) if i >= 0), default=-1)
                if cut < 0:
                    raise SmscError(1)
                text = line[cut + 1 :].replace("\\n", "\n")
                if not text or len(text) > limit:
                    raise SmscError(1)
                pairs += [(p, text) for p in re.split(r"[,;]", line[:cut]) if p.strip()]
            return pairs
        phones, mes = params.get("phones", ""), params.get("mes", "")
        if not phones.strip() or not mes or len(mes) > limit:
            raise SmscError(1)
        return [(p, mes) for p in re.split(r"[,;]", phones) if p.strip()]

    def _id(self, params: Mapping[str, str]) -> str:
        raw = params.get("id", "").strip()
        if raw in ("", "0"):
            self.auto_ids += 1
            return str(self.auto_ids)
        sid = norm_id(raw)
        if not sid:
            raise SmscError(1)
        return sid

    def _valid(self, text: str) -> bool:
        match = VALID_RE.fullmatch(text)
        minutes = (
            int(text) * 60
            if text.isdigit()
            else (int(match.group(1)) * 60 + int(match.group(2)) if match else 0)
        )
        return 1 <= minutes <= self.smsc.max_valid_minutes

    def _refusal(self, number: str) -> int:
        s = self.settings
        if not NUMBER_RE.fullmatch(number):
            return 22
        if number in s.blacklist:
            return 23
        if s.bad_prefixes and number.startswith(tuple(s.bad_prefixes)):
            return 25
        return 0

    def _take(
        self,
        sid: str,
        number: str,
        text: str,
        sender: str,
        parts: int,
        price: float,
        refused: int,
        now: float,
    ) -> None:
        state, k = self.state, key(sid, number)
        if refused:
            self.messages[(sid, number)] = Message(
                sid, number, text, sender, parts, 0.0, now, now, refused
            )
            return
        if self.settings.dedupe_ids and k in state.accepted:
            state.rejected_ids[k] = state.rejected_ids.get(k, 0) + 1
            state.statuses["REPEAT_IGNORED"] += 1
            return
        d = self.settings.dlr
        rng = state.rng_dlr
        names, weights = list(d.outcomes), list(d.outcomes.values())
        outcome = rng.choices(names, weights)[0]
        status, err = OUTCOMES.get(outcome, (1, 0))
        delay = (d.delay_ms + (rng.uniform(0, d.jitter_ms) if d.jitter_ms > 0 else 0)) / 1000
        due = now + delay if d.enabled else float("inf")
        self.messages[(sid, number)] = Message(
            sid, number, text, sender, parts, parts * price, now, due, status, err
        )
        state.accepted[k] = state.accepted.get(k, 0) + 1
        state.final[k] = outcome
        state.statuses["ACCEPTED"] += 1
        state.credit -= parts * price
        state.add_parts(int(now), parts)

    # -- status.php -----------------------------------------------------------------------

    def status(self, params: Mapping[str, str]) -> tuple[list[Json], bool]:
        """The records asked for, and whether the request was a multiple one."""
        raw_ids, raw_phones = params.get("id", ""), params.get("phone", "")
        multi = "," in raw_ids or "," in raw_phones
        ids = [i.strip() for i in raw_ids.split(",")]
        phones = [number_of(p) for p in raw_phones.split(",")]
        if multi and ids[-1] == "" and phones[-1] == "":  # "a trailing comma keeps the form"
            ids, phones = ids[:-1], phones[:-1]
        if not ids or len(ids) != len(phones) or not all(ids) or not all(phones):
            raise SmscError(1)
        login, limit = params.get("login", ""), self.smsc.status_per_message
        names = {(norm_id(sid), number) for sid, number in zip(ids, phones, strict=True)}
        fits = [self._count(self.status_windows, name, limit) for name in names]
        if multi:
            fits.append(self._count(self.mass_windows, login, self.smsc.mass_status_per_window))
        if not all(fits):
            raise SmscError(9)
        now = time.time()
        records = []
        for sid, number in zip(ids, phones, strict=True):
            message = self.messages.get((norm_id(sid), number))
            if message is None:
                records.append({"status": -3, "id": sid, "phone": number})
            else:
                records.append(message.record(now))
        return records, multi
