"""CSV output that is safe to open in a spreadsheet (rejects files, exports).

A cell starting with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with
a single quote so that Excel/LibreOffice show it as text instead of running it
(OWASP "CSV injection").  Nothing else is changed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeCsvWriter:
    """csv.writer whose every cell goes through safe_cell()."""

    def __init__(self, fh: IO[str]) -> None:
        self._w = csv.writer(fh, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([safe_cell(v) for v in row])
