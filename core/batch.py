"""A batch: the unit of work a worker sends through one provider, as one request where
the gateway takes that many destinations (a provider's `Profile.max_batch`).

It travels as a dramatiq message argument (a plain dict, orjson-encoded).  Every
destination carries its own deterministic messageId, so a resend of the batch, or
of some of its destinations, carries the same ids.

A binary batch (`Batch.meta[BINARY_KEY]`: its data coding and ESM class, `core.binary`)
carries each payload's canonical hex where a text batch carries its text: `Batch.text`
for one payload shared by all, `Destination.text` for one each.  Only a provider whose
`Profile.binary` is set sends it; the others never send it as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.binary import Binary

# `Batch.meta` keys set by the worker for one request
REQUEST_NUMBER_KEY = "request"  # a number unique per request (Profile.numbered_requests)
# set by the producer for every request of a batch
BINARY_KEY = "binary"  # {"data_coding", "esm_class"}: payloads in hex, not texts (above)
WINDOW_KEY = "window"  # "HH:MM-HH:MM": only while the recipient's local time is inside
OPTIONS_KEY = "options"  # the campaign's message options (core.options.SendOptions.to_meta)


@dataclass(frozen=True, slots=True)
class Destination:
    message_id: str
    to: str
    text: str | None = None  # None: the batch's shared text


@dataclass(frozen=True, slots=True)
class Batch:
    campaign: str
    seq: int
    bulk_id: str
    sender: str
    text: str | None  # shared text, or None when every destination has its own
    destinations: tuple[Destination, ...]
    expires_at: int  # epoch ms: nothing is sent after this (validity period)
    attempt: int = 1
    transactional: bool = False
    meta: dict[str, Any] = field(default_factory=dict)  # see the *_KEY names below
    provider: str = ""  # the gateway asked for ("": by route, else SMS_PROVIDER)

    @property
    def binary(self) -> Binary | None:
        """A binary batch's data coding and ESM class (`BINARY_KEY`); None for texts."""
        return Binary.from_meta(self.meta.get(BINARY_KEY))

    def text_of(self, dest: Destination) -> str:
        return dest.text if dest.text is not None else (self.text or "")

    def only(self, dests: list[Destination], **changes: Any) -> Batch:
        """The same batch with just these destinations (and other changes)."""
        return replace(self, destinations=tuple(dests), **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "c": self.campaign,
            "s": self.seq,
            "b": self.bulk_id,
            "f": self.sender,
            "t": self.text,
            "x": self.expires_at,
            "a": self.attempt,
            "o": int(self.transactional),
            "m": self.meta,
            "p": self.provider,
            "d": [[d.message_id, d.to, d.text] for d in self.destinations],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Batch:
        dests = tuple(Destination(m, to, t) for m, to, t in raw["d"])
        return cls(
            campaign=raw["c"],
            seq=raw["s"],
            bulk_id=raw["b"],
            sender=raw["f"],
            text=raw["t"],
            destinations=dests,
            expires_at=raw["x"],
            attempt=raw["a"],
            transactional=bool(raw.get("o")),
            meta=raw.get("m") or {},
            provider=raw.get("p") or "",
        )
