"""Message text with `{placeholders}` filled from the recipient's other columns.

`Hi {name}` with a `name` column.  Placeholder names match column names without
regard to case or surrounding spaces.  `{{` and `}}` are literal braces.  An
unknown placeholder is an error before anything is enqueued.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.errors import PlaceholderError

PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class Template:
    def __init__(self, text: str, header: Sequence[str], *, file: str = "") -> None:
        if not text:
            raise PlaceholderError("message text is empty", file=file, field="text")
        self.text = text
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
        self.personalised = any(isinstance(p, int) for p in self._parts)  # has placeholders

    def _literal(self, s: str) -> None:
        if s:
            self._parts.append(s)

    @property
    def shared_text(self) -> str:
        """The text when it has no placeholders (with `{{`/`}}` unescaped)."""
        return "".join(p for p in self._parts if isinstance(p, str))

    def render(self, fields: Sequence[str]) -> str:
        return "".join(p if isinstance(p, str) else fields[p] for p in self._parts)
