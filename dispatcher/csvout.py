"""CSV output that is safe to open in a spreadsheet (rejects files, exports).

A cell starting with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with
a single quote so that Excel/LibreOffice show it as text instead of running it
(OWASP "CSV injection").  Nothing else is changed.

A row with a carriage return in any cell is written with every cell quoted: Python 3.11's
csv quotes a field only for the characters of the line terminator (`\n` here), and a bare
CR reads as a line break in a spreadsheet, so `x\r=cmd` would start a row with `=cmd`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CR = "\r"


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeCsvWriter:
    """csv.writer whose every cell goes through safe_cell()."""

    def __init__(self, fh: IO[str]) -> None:
        self._w = csv.writer(fh, lineterminator="\n")
        self._quoted = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = [safe_cell(v) for v in row]
        (self._quoted if any(CR in cell for cell in cells) else self._w).writerow(cells)
