"""Providers register themselves here; generic code looks them up and never names one.

Each provider package (`providers/ants`, `providers/smsmanager`, `providers/smsc`)
calls `register(Spec(...))` when imported (`providers/__init__.py` imports them all),
much as courier's handlers call `RegisterHandler` in their `init()`.  A `Spec` says
everything the rest of the product needs to know about a gateway:

* `sender(session, settings)`: its `Provider` (send a batch, and `lookup` what it took,
  asked before anything whose outcome is unknown is sent again);
* `parse_report(body, content_type, query)`: its delivery reports (webhook bodies);
* `error_name(code)`: a code's name in its tables (for `status`'s top errors);
* `profile`: the facts a sender must respect (below);
* `configured(settings)`: whether its credentials are set (for routing);
* `own_ids`: its reports name messages by an id of its own (`Result.provider_id`, e.g. a
  number, when our messageIds do not fit its API): the worker keeps each id's messageId
  (`sms:pid:{provider}:{id}`) and report intake translates it back;
* `status(session, settings)`: its `providers.status.StatusReader`, when the gateway can be
  asked what became of the messages it took (`smsdispatch reports poll`); None otherwise;
* `pull(session, settings)`: its `providers.pull.ReportSource`, when the gateway keeps its
  reports for us to fetch (`smsdispatch reports poll`); None otherwise;
* `otp`: its `providers.otp.OtpService` (PIN endpoints and their default limits), when
  the gateway sends one-time PINs (`dispatcher.otp`); None otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.gsm_national import Language
from core.limits.spec import Limit
from core.options import SendOptions
from core.sms import UCS2_MULTI, count_parts
from providers.base import Provider
from providers.otp import OtpService
from providers.pull import SourceFactory
from providers.reports import Parsed
from providers.status import ReaderFactory


@dataclass(frozen=True)
class Profile:
    """What a gateway accepts: each fact of a provider stated once, here."""

    max_parts: int  # a longer text is refused
    max_bytes: int  # a longer text (UTF-8) is refused
    max_validity_minutes: int  # 0: the gateway takes no validity period
    sender_rule: re.Pattern[str]  # a sender id it accepts
    concurrency: int  # concurrent requests per account it allows (0: no stated cap)
    flood_varied: Limit | None  # its anti-flooding per number (None: none stated)
    flood_identical: Limit | None
    rejects_reused_ids: bool  # it refuses a messageId it already took (ANTS 23)
    max_batch: int  # destinations per request
    # >0: the gateway knows a request by a number of ours below this (SmsManager customid:
    # digits, 32-bit); the worker numbers each request (unique, Redis INCR) in
    # `Batch.meta[REQUEST_NUMBER_KEY]`, instead of a hash that two requests may share
    numbered_requests: int = 0
    # its lookup proves absence: "not found" means "never taken" (ANTS logs by messageId,
    # SMSC.ru status -3 by id and number).  False: a lookup can only prove presence, so a
    # destination it does not find is held `unknown`, never resent by itself (SmsManager)
    lookup_proves_absence: bool = True
    # it sends binary messages (a hex payload, a data coding, an ESM class: core.binary);
    # False: a binary campaign is refused at import, and a binary batch failed at send time
    binary: bool = False
    # status requests (a lookup, a poll) per account in a window, across processes
    # (providers.status.turn); None: none stated
    status_rate: Limit | None = None
    # message options it takes (core.options): flash SMS; the transliteration tables; the
    # national languages whose shift tables it sends (a locking shift only where
    # `locking_languages` has it); intermediate delivery reports asked per message
    flash: bool = False
    transliterations: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    locking_languages: frozenset[str] = frozenset()
    intermediate_reports: bool = False

    def lacks(self, options: SendOptions) -> list[str]:
        """The options asked that this gateway does not take, named ([] when it takes all)."""
        missing = []
        if options.flash and not self.flash:
            missing.append("flash SMS")
        if options.transliteration and options.transliteration not in self.transliterations:
            missing.append(f"transliteration {options.transliteration}")
        if (lang := options.language) and (
            lang.code not in self.languages
            or (lang.locking_shift and lang.code not in self.locking_languages)
        ):
            missing.append(f"national language {lang}")
        if options.intermediate_reports and not self.intermediate_reports:
            missing.append("intermediate reports")
        return missing

    def check_sender(self, sender: str) -> bool:
        return bool(self.sender_rule.fullmatch(sender))

    def too_long(self, text: str, language: Language | None = None) -> str:
        """Why the gateway would refuse this text as too long ("" when it would not), its
        parts counted by a national language's tables when one is given."""
        n = len(text)  # at most 2 units (septets or UTF-16) and 4 UTF-8 bytes a character
        if 2 * n <= self.max_parts * UCS2_MULTI and 4 * n <= self.max_bytes:
            return ""  # short enough in any encoding: no need to count
        parts = count_parts(text, language)[1]
        if parts > self.max_parts or len(text.encode("utf-8")) > self.max_bytes:
            return f"text longer than {self.max_parts} parts or {self.max_bytes} bytes"
        return ""


ParseReport = Callable[[Any, str, Mapping[str, str]], Parsed]


@dataclass(frozen=True)
class Spec:
    name: str
    profile: Profile
    sender: Callable[[Any, Any], Provider]  # (aiohttp session, Settings) -> Provider
    parse_report: ParseReport
    error_name: Callable[[str], str]
    configured: Callable[[Any], bool]  # (Settings) -> credentials set
    own_ids: bool = False
    status: ReaderFactory | None = None
    pull: SourceFactory | None = None
    otp: OtpService | None = None
    # the profile's status_rate as the settings make it (SMSC_WINDOW_S: how long the
    # gateway's minute is); None: the profile's own
    status_rate: Callable[[Any], Limit] | None = None


_SPECS: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    if spec.name in _SPECS and _SPECS[spec.name] is not spec:
        raise ValueError(f"provider {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def get(name: str) -> Spec:
    """The provider `name`; a ConfigError naming the known ones otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(sorted(_SPECS))
        raise ConfigError("provider", f"no provider {name!r}; known: {known}") from None


def binary_refusal(name: str) -> str:
    """Why gateway `name` cannot send binary messages ("" when it can): a binary payload is
    never sent as text."""
    if get(name).profile.binary:
        return ""
    return f"gateway {name} cannot send binary messages (a hex payload is never sent as text)"


def status_rate(name: str, settings: Any) -> Limit | None:
    """Status requests (lookups, polls) per account that gateway `name` allows, as the
    settings make it."""
    spec = get(name)
    return spec.status_rate(settings) if spec.status_rate else spec.profile.status_rate


def names() -> list[str]:
    return sorted(_SPECS)


def refusal(name: str, options: SendOptions) -> str:
    """Why gateway `name` cannot send a message with these options ("" when it can)."""
    missing = get(name).profile.lacks(options)
    return f"gateway {name} does not take {', '.join(missing)}" if missing else ""


def otp_service(preferred: str) -> OtpService:
    """The OTP service of the provider that sends one-time PINs: `preferred`
    (SMS_PROVIDER) when it sends them, else the first by name that does; a ConfigError
    when none does."""
    services = {name: spec.otp for name, spec in sorted(_SPECS.items()) if spec.otp}
    if not services:
        raise ConfigError("provider", "no provider sends one-time PINs")
    return services.get(preferred) or next(iter(services.values()))


def check(settings: Any) -> None:
    """SMS_PROVIDER and every provider SMS_ROUTES names exist (a ConfigError naming the
    variable otherwise); run at start-up."""
    routed = [("SMS_ROUTES", p) for r in settings.routes for p in r.providers]
    for variable, name in (("SMS_PROVIDER", settings.provider), *routed):
        if name not in _SPECS:
            known = ", ".join(sorted(_SPECS))
            raise ConfigError(variable, f"no provider {name!r}; known: {known}")
