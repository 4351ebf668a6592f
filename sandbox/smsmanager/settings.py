"""The SmsManager sandbox's own knobs (`GET|POST /_sandbox/smsmanager`), beside the shared
SandboxSettings."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_QUEUE_S = 0.0  # the least favourable reading: a request is processed at once


@dataclass(slots=True)
class SmsManagerSettings:
    # seconds a taken request waits in the gateway's queue before it is processed (sent);
    # only a queued request shows in /RequestList (its "remaining recipients" field)
    queue_s: float = DEFAULT_QUEUE_S
