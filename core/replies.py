"""Redis replies read as text.

redis-py types a reply as `bytes | str`: whether a client decodes is chosen when it is
built, not in its type.  Every client here answers bytes.  These helpers read such a
reply as text (a `str` passes as it is), so a caller needs neither a cast nor an ignore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from redis.typing import ZSetRangeResponse


def text(raw: bytes | str) -> str:
    """The reply as text (UTF-8)."""
    return raw.decode() if isinstance(raw, bytes) else raw


def bytes_of(raw: bytes | str) -> bytes:
    """The reply as bytes (a `str` encoded as UTF-8)."""
    return raw if isinstance(raw, bytes) else raw.encode()


def members(reply: ZSetRangeResponse) -> list[str]:
    """The members of a sorted-set range read without scores, as text."""
    return [text(member) for member in cast(list[bytes | str], reply)]  # no withscores


def scored(reply: ZSetRangeResponse) -> list[tuple[str, float]]:
    """The (member, score) pairs of a sorted-set range read with its scores (floats)."""
    return [(text(member), score) for member, score in cast(list[tuple[bytes | str, float]], reply)]
