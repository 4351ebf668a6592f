"""Message text with `{placeholders}` filled from the recipient's other columns.

`Hi {name}` with a `name` column.  Placeholder names match column names without
regard to case or surrounding spaces.  `{{` and `}}` are literal braces.  An
unknown placeholder is an error before anything is enqueued.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.errors import PlaceholderError
from dispatcher import links

PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class Link(int):
    """A part that is the text's link number `int(self)` (its target in `Template.links`)."""


class Template:
    """`link_base` (SMS_LINK_BASE) renders the links' placeholders; `track_links` takes every
    URL of the text as a link."""

    def __init__(
        self,
        text: str,
        header: Sequence[str],
        *,
        file: str = "",
        link_base: str = "",
        track_links: bool = False,
    ) -> None:
        if not text:
            raise PlaceholderError("message text is empty", file=file, field="text")
        self.text = text
        self.file = file
        self.link_base = link_base
        self.track_links = track_links
        self.links: list[str] = []  # each link's target, in order
        columns = {h.strip().lower(): i for i, h in enumerate(header)}
        self._parts: list[str | int] = []
        pos = 0
        for m in PLACEHOLDER_RE.finditer(text):
            self._literal(text[pos : m.start()])
            pos = m.end()
            if m.group(1) is None:
                self._literal(m.group(0)[0])
                continue
            name = m.group(1).strip().lower()
            if name.startswith(links.LINK_FIELD):
                target = m.group(1).strip()[len(links.LINK_FIELD) :]
                self._link(links.check_target(target, file=file))
                continue
            if name not in columns:
                known = ", ".join(h.strip() for h in header)
                raise PlaceholderError(
                    f"unknown placeholder {{{m.group(1)}}}; columns are: {known}",
                    file=file,
                    line=1,
                    field="text",
                )
            self._parts.append(columns[name])
        self._literal(text[pos:])
        # has placeholders or links: a text per recipient
        self.personalised = any(isinstance(p, int) for p in self._parts)

    def _literal(self, s: str) -> None:
        if not self.track_links:
            if s:
                self._parts.append(s)
            return
        at = 0
        for start, end in links.urls(s):
            if start > at:
                self._parts.append(s[at:start])
            self._link(links.check_target(s[start:end], file=self.file))
            at = end
        if at < len(s):
            self._parts.append(s[at:])

    def _link(self, target: str) -> None:
        if len(self.links) >= links.MAX_LINKS:
            raise PlaceholderError(
                f"at most {links.MAX_LINKS} links in a text", file=self.file, line=1, field="text"
            )
        self._parts.append(Link(len(self.links)))
        self.links.append(target)

    def _part(self, part: str | int, fields: Sequence[str]) -> str:
        if isinstance(part, str):
            return part
        if isinstance(part, Link):
            return links.placeholder(self.link_base, part)
        return fields[part]

    @property
    def shared_text(self) -> str:
        """The text without its merged fields (with `{{`/`}}` unescaped, links' placeholders
        in place): the whole text when it has neither."""
        return "".join(self._part(p, ()) for p in self._parts if type(p) is not int)

    def render(self, fields: Sequence[str]) -> str:
        return "".join(self._part(p, fields) for p in self._parts)
