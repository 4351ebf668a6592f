"""ANTS: the Infobip-style HTTP API (2018 document and the newer status codes).

Sender `POST /sms/1/text/advanced` (binary messages: `/sms/1/binary/advanced`), lookup
`GET /sms/1/logs`, delivery reports in both callback formats and pulled (`GET
/sms/1/reports`: `pull`); its facts (`PROFILE`)
from the seed documents: 25 parts or 4,000 bytes at most, validityPeriod up to 48
hours, sender ids of 1-11 characters without spaces, 20 varied / 6 identical messages
per number per hour, and a reused messageId refused with 23
REJECTED_DUPLICATE_MESSAGE_ID.  The advanced request takes every message option
(`core.options`): `flash`, `transliteration` (the Infobip-style tables), `language`
(`languageCode` with `singleShift` / `lockingShift`: the national tables of TS 23.038 it
has, Turkish, Spanish and Portuguese; Spanish has no locking shift) and
`intermediateReport`.
"""

from __future__ import annotations

import re

from core import gsm_national
from core.limits.spec import Limit
from core.options import TRANSLITERATIONS
from providers.ants import codes
from providers.ants.otp import DEFAULTS as OTP_DEFAULTS
from providers.ants.otp import AntsOtp
from providers.ants.pull import AntsReports
from providers.ants.reports import parse_callback
from providers.ants.sender import MAX_VALIDITY_MINUTES, AntsSender
from providers.otp import OtpService
from providers.registry import Profile, Spec, register

PROFILE = Profile(
    max_parts=25,
    max_bytes=4000,
    max_validity_minutes=MAX_VALIDITY_MINUTES,
    sender_rule=re.compile(r"\S{1,11}"),
    concurrency=0,
    flood_varied=Limit(20, 3_600_000),
    flood_identical=Limit(6, 3_600_000),
    rejects_reused_ids=True,
    binary=True,
    max_batch=10_000,
    flash=True,
    transliterations=TRANSLITERATIONS,
    languages=gsm_national.CODES,
    locking_languages=frozenset(gsm_national.LOCKING_SHIFT),
    intermediate_reports=True,
)


def _error_name(code: str) -> str:
    row = codes.ERROR_BY_ID.get(code) or codes.STATUS_BY_ID.get(code)
    return row.name if row else ""


SPEC = register(
    Spec(
        name="ants",
        profile=PROFILE,
        sender=AntsSender,
        parse_report=lambda body, ctype, query: parse_callback(body, ctype),
        error_name=_error_name,
        configured=lambda s: bool(s.ants_api_key or (s.ants_username and s.ants_password)),
        pull=AntsReports,
        otp=OtpService(gateway=AntsOtp, defaults=OTP_DEFAULTS),
    )
)
