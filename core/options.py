"""What a campaign asks of every message it sends, beyond its text: `SendOptions`.

Flash (shown at once, not stored), a national language table (`core.gsm_national`),
transliteration by the gateway, and intermediate delivery reports (`pending` before the
final one).  A campaign's options travel in each batch's meta (`core.batch.OPTIONS_KEY`,
the dict of `to_meta`); each provider's `Profile` says which it takes, and a provider that
lacks one refuses the campaign at import and the batch at send time (never sent without
it).  `Profile.lacks` names what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from core.errors import InputError
from core.gsm_national import Language, language

# transliteration tables a gateway may take: the values of the advanced SMS API's
# `transliteration` (its 2018 document shows TURKISH; its reference lists them all); each
# provider's Profile says which it takes
TRANSLITERATIONS = frozenset(
    {
        "TURKISH",
        "GREEK",
        "CYRILLIC",
        "SERBIAN_CYRILLIC",
        "BULGARIAN_CYRILLIC",
        "CENTRAL_EUROPEAN",
        "BALTIC",
        "PORTUGUESE",
        "COLOMBIAN",
        "NON_UNICODE",
    }
)


@dataclass(frozen=True, slots=True)
class SendOptions:
    """A campaign's message options (all off by default)."""

    flash: bool = False
    transliteration: str = ""  # one of TRANSLITERATIONS ("": none)
    language: Language | None = None
    intermediate_reports: bool = False

    def __bool__(self) -> bool:
        return self != NO_OPTIONS

    def __str__(self) -> str:
        """The options that are on, in words ("" for none)."""
        named = [
            "flash" if self.flash else "",
            f"transliteration {self.transliteration}" if self.transliteration else "",
            f"language {self.language}" if self.language else "",
            "intermediate reports" if self.intermediate_reports else "",
        ]
        return ", ".join(n for n in named if n)

    def to_meta(self) -> dict[str, Any]:
        """The options as a batch carries them: only those that are on."""
        meta: dict[str, Any] = {}
        if self.flash:
            meta["flash"] = True
        if self.transliteration:
            meta["translit"] = self.transliteration
        if lang := self.language:
            meta["lang"] = [lang.code, lang.single_shift, lang.locking_shift]
        if self.intermediate_reports:
            meta["interim"] = True
        return meta

    def stored(self) -> str:
        """How a campaign's meta keeps them: `to_meta` as sorted JSON ("{}": none)."""
        return orjson.dumps(self.to_meta(), option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_stored(cls, raw: str | bytes | None) -> SendOptions:
        """The options a campaign's meta keeps (`stored`; nothing: none)."""
        return cls.from_meta(orjson.loads(raw)) if raw else NO_OPTIONS

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> SendOptions:
        if not meta:
            return NO_OPTIONS
        lang = meta.get("lang")
        return cls(
            flash=bool(meta.get("flash")),
            transliteration=str(meta.get("translit") or ""),
            language=Language(str(lang[0]), bool(lang[1]), bool(lang[2])) if lang else None,
            intermediate_reports=bool(meta.get("interim")),
        )


NO_OPTIONS = SendOptions()


def send_options(
    *,
    flash: bool = False,
    transliteration: str | None = None,
    language_code: str | None = None,
    single_shift: bool = False,
    locking_shift: bool = False,
    intermediate_reports: bool = False,
) -> SendOptions:
    """Checked options from a caller's values (CLI, HTTP, Python API); InputError naming the
    field otherwise.  A shift without a language is refused, never ignored."""
    table = (transliteration or "").strip().upper()
    if table and table not in TRANSLITERATIONS:
        known = ", ".join(sorted(TRANSLITERATIONS))
        raise InputError(f"no transliteration {table!r}; known: {known}", field="transliteration")
    lang = None
    if language_code:
        lang = language(language_code, single_shift, locking_shift)
    elif single_shift or locking_shift:
        raise InputError("a single or locking shift needs a language code", field="language")
    return SendOptions(flash, table, lang, intermediate_reports)
