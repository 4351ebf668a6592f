"""The whole exception tree of the dispatcher, in one place.

Exceptions raised by the libraries underneath (aiohttp, redis-py, csv, orjson)
are translated into these at one boundary each: the gateways' HTTP transport
(`providers.http`), the CSV reader (`dispatcher.csvsource`) and the
configuration loader (`config.settings`).  Nothing above those boundaries
catches a library exception.

    DispatchError
    ├── ConfigError                 bad or missing environment variable / limit spec
    ├── StoreUnavailable            Redis cannot be reached (names where, never the password)
    ├── InputError                  bad campaign input: says file, line and field
    │   ├── MissingColumnError      no phone column in the header
    │   └── PlaceholderError        {placeholder} in the text with no such column
    ├── CampaignError
    │   ├── CampaignPaused          the campaign is paused (fatal account error)
    │   ├── CampaignCanceled        canceled by an operator: it cannot go on
    │   ├── PlanChanged             import --plan-hash: the file or texts changed since
    │   ├── CampaignConflict        not for this campaign: pausing a channel, a re-import
    │   │                           with another text, sender or provider
    │   └── CampaignNotFound
    ├── OtpError                    OTP limit / verification problems (public API)
    │   ├── OtpLimited              a send or verify limit is exhausted: retry_after
    │   └── OtpNotFound
    └── GatewayError                anything the SMS gateway did wrong, or said no to
        ├── TransportError          the request may not have reached the gateway  [retryable]
        │   ├── GatewayTimeout      no answer in time: it MAY have been accepted  [maybe sent]
        │   └── GatewayConnectError could not connect                              [retryable]
        ├── GatewayServerError      HTTP 5xx (502/504: MAY have been accepted)     [retryable]
        ├── GatewayThrottled        HTTP 429 / flooding / SMSC.ru 9: retry_after   [throttled]
        ├── GatewayRequestError     HTTP 400 about some destinations: message_ids  [permanent]
        ├── GatewayMisconfigured    cannot succeed as configured: 404, 405, 413,   [fatal]
        │   │                       a 400 that names no destination
        │   └── GatewayAuthError    HTTP 401/403: bad credentials                  [fatal]
        └── GatewayProtocolError    an answer we cannot read: it MAY have been     [maybe sent]
                                    accepted

Every `GatewayError` says by itself whether it is worth retrying
(`retryable`), whether the gateway may have taken the request all the same
(`maybe_sent`: nothing of it is resent before the gateway has been asked, see
`workers.claims`), and, when the gateway said so, after how long
(`retry_after`).  A fatal error pauses the campaign: resending cannot help
until an operator fixes the account or the configuration and resumes.
"""

from __future__ import annotations

from typing import TypedDict, Unpack


class DispatchError(Exception):
    """Base of every error the dispatcher raises on purpose."""


class ConfigError(DispatchError):
    """A configuration value is missing or malformed; names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class StoreUnavailable(DispatchError):
    """Redis cannot be reached (the CLI says where; the password is never shown)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_url(url)
        self.reason = reason
        super().__init__(f"cannot reach Redis at {self.url} (REDIS_URL): {reason}")


def redact_url(url: str) -> str:
    """The URL without its password, e.g. redis://user:***@host:6379/0."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://***@{host}"


class InputError(DispatchError):
    """Bad campaign input. Carries where: file, line (1-based) and field."""

    def __init__(
        self, message: str, *, file: str = "", line: int | None = None, field: str = ""
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        where = ":".join(p for p in (file, str(line) if line is not None else "") if p)
        where += f" [{field}]" if field else ""
        super().__init__(f"{where}: {message}" if where else message)


class MissingColumnError(InputError):
    """The CSV header has no column we can use for phone numbers."""


class PlaceholderError(InputError):
    """The message text uses a {placeholder} that the CSV has no column for."""


class CampaignError(DispatchError):
    """Something about a campaign as a whole."""


class CampaignPaused(CampaignError):
    """The campaign is paused; its messages are parked until `resume`."""

    def __init__(self, campaign: str, reason: str) -> None:
        self.campaign = campaign
        self.reason = reason
        super().__init__(f"campaign {campaign} is paused: {reason}")


class CampaignCanceled(CampaignError):
    """The campaign was canceled by an operator: it cannot be resumed or added to."""


class PlanChanged(CampaignError):
    """`import --plan-hash`: the file or the campaign's texts are not what was planned."""


class CampaignConflict(CampaignError):
    """The campaign cannot do that as it is (a channel of single messages or OTPs cannot be
    paused or canceled; a re-import cannot change the text, sender or provider)."""


class CampaignNotFound(CampaignError):
    """No campaign with that id was ever imported."""


class OtpError(DispatchError):
    """Problems in the OTP public API."""


class OtpLimited(OtpError):
    """An OTP limit (per phone, per application, verify rate, attempts) is exhausted."""

    def __init__(self, limit: str, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"OTP limit {limit} reached; retry after {retry_after:.1f}s")


class OtpNotFound(OtpError):
    """No such PIN id (expired or never sent)."""


class GatewayFields(TypedDict, total=False):
    """The keyword arguments of a GatewayError, as a subclass passes them on."""

    status: int | None
    code: str
    retry_after: float | None
    body: str


class GatewayError(DispatchError):
    """The gateway could not be asked, or answered with an error for the whole request."""

    retryable: bool = False
    fatal: bool = False
    maybe_sent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.body = body[:500]
        super().__init__(message)


class TransportError(GatewayError):
    """The request may not have reached the gateway (or its answer did not reach us)."""

    retryable = True


class GatewayTimeout(TransportError):
    """No answer in time, or the answer broke off. The gateway may have accepted it."""

    maybe_sent = True


class GatewayConnectError(TransportError):
    """Could not open a connection to the gateway."""


MAYBE_SENT_STATUSES = frozenset({502, 504})  # a proxy answered: the gateway may have it


class GatewayServerError(GatewayError):
    """HTTP 5xx from the gateway (502 and 504 come from a proxy: the gateway may have it)."""

    retryable = True

    @property
    def maybe_sent(self) -> bool:  # type: ignore[override]  # read like the base's attribute
        return self.status in MAYBE_SENT_STATUSES


class GatewayThrottled(GatewayError):
    """The gateway asked us to slow down (HTTP 429, Retry-After)."""

    retryable = True


class GatewayRequestError(GatewayError):
    """HTTP 400 about some destinations (`message_ids`): those fail, the rest can go."""

    def __init__(
        self, message: str, *, message_ids: tuple[str, ...] = (), **kw: Unpack[GatewayFields]
    ) -> None:
        super().__init__(message, **kw)
        self.message_ids = message_ids


class GatewayMisconfigured(GatewayError):
    """The request cannot succeed as configured (wrong URL or method, too large, a 400
    about the request itself): pause, never burn the messages."""

    fatal = True


class GatewayAuthError(GatewayMisconfigured):
    """HTTP 401/403: credentials refused. Fatal for the account, not the message."""


class GatewayProtocolError(GatewayError):
    """The gateway answered something we cannot read. It may have accepted the request."""

    retryable = True
    maybe_sent = True
