"""Streaming CSV reader for campaigns: one row at a time, memory flat for any file size.

UTF-8 with or without BOM; the delimiter is sniffed from the header (`,` `;` tab `|`)
unless given.  The header names the phone column (common names are recognised, or
`phone_column=`).  Rows that cannot be used are not errors for the file: they come
out as `Reject(line, field, reason)` so the importer writes them to the rejects file
and carries on.  A file that cannot be used at all (empty, no phone column) raises
`InputError` with file, line and field before anything is enqueued.

A quote that opens a field and is not closed on its line would make one row of every line
up to the next quote (or the end of the file): when such a row is broken (wrong field count,
an odd number of quotes, or a swallowed line that looks like a row of its own, a phone
number in the phone column), only its first line is rejected, naming the field, and the
lines after it are read again as rows.  Nothing is lost that way: every line is either a row
or a reject with its line number.  A quoted field over several lines that is none of those
(a text with a line break) is one row, as CSV says.

This module is the boundary where `csv.Error` and `UnicodeError` are translated.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.errors import InputError, MissingColumnError

PHONE_COLUMNS = (
    "phone",
    "phone_number",
    "phonenumber",
    "phone number",
    "mobile",
    "mobile_number",
    "msisdn",
    "to",
    "number",
    "tel",
    "telephone",
    "recipient",
    "destination",
)
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
MAX_FIELD_CHARS = 10_000  # a longer cell is rejected (texts are at most 4,000 bytes)
MAX_LINE_CHARS = 1024 * 1024  # a longer line is rejected unread: memory per line is bounded
DRAIN_CHARS = 64 * 1024  # a line over MAX_LINE_CHARS is skipped in pieces this big
CSV_FIELD_LIMIT = 2 * MAX_LINE_CHARS  # what csv may read of a field over several lines
QUOTE = '"'
NOT_DELIMITERS = QUOTE + "\r\n"  # csv cannot split on these
PHONE_LIKE = re.compile(r"\+?[\d\s().-]*\d{6}[\d\s().-]*")  # a swallowed line's phone cell


class LineTooLong(Exception):
    """A line over MAX_LINE_CHARS: skipped, never held whole."""


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    field: str
    reason: str
    fields: Sequence[str]


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    fields: Sequence[str]


def open_text(path: str | Path) -> IO[str]:
    """Open as UTF-8 (BOM stripped); undecodable bytes are kept as surrogates to report.
    A file that cannot be opened is an InputError naming it and why."""
    try:
        return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from None


def _size(fh: IO[str]) -> int:
    """The size of what `fh` reads, in bytes (or characters), if known up front; else 0."""
    if isinstance(fh, io.StringIO):
        return len(fh.getvalue())
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return 0


class CsvSource:
    """Iterate a campaign CSV as `Row`s and `Reject`s, after reading its header."""

    def __init__(
        self,
        fh: IO[str],
        *,
        name: str = "<input>",
        phone_column: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        self.name = name
        self._fh = fh
        self.size_bytes = _size(fh)  # 0 when unknown (sizes the dedupe's hashes)
        csv.field_size_limit(CSV_FIELD_LIMIT)
        self.delimiter = _delimiter(delimiter, name) if delimiter else self._sniff()
        self._lines = _Lines(fh)
        self._reader = csv.reader(self._lines, delimiter=self.delimiter)
        self.header = self._read_header()
        self.phone_index = self._phone_index(phone_column)

    def _sniff(self) -> str:
        sample = self._fh.read(SNIFF_BYTES)
        self._fh.seek(0)
        first = sample.split("\n", 1)[0]
        if not first.strip():
            raise InputError("file is empty: expected a header row", file=self.name, line=1)
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","

    def _read_header(self) -> list[str]:
        try:
            header = next(self._reader)
        except StopIteration:
            raise InputError("file is empty: expected a header row", file=self.name) from None
        except LineTooLong:
            raise InputError(_too_long(), file=self.name, line=1, field="header") from None
        except csv.Error as exc:
            raise InputError(f"unreadable header: {exc}", file=self.name, line=1) from None
        if len(self._lines.taken) > 1:
            raise InputError(
                f"the header opens a quote ({QUOTE}) that is never closed on its line",
                file=self.name,
                line=1,
                field="header",
            )
        bad = _bad_utf8(header)
        if bad is not None:
            raise InputError("header is not UTF-8", file=self.name, line=1, field=str(bad))
        return [h.strip() for h in header]

    def _phone_index(self, wanted: str | None) -> int:
        names = [h.lower() for h in self.header]
        candidates = (wanted.strip().lower(),) if wanted else PHONE_COLUMNS
        for c in candidates:
            if c in names:
                return names.index(c)
        looks_like_data = any(h.lstrip("+").replace(" ", "").isdigit() for h in self.header)
        hint = " (the first row looks like data: add a header row)" if looks_like_data else ""
        if len(self.header) == 1 and any(d in self.header[0] for d in DELIMITERS):
            hint = " (only one column: is the delimiter right? use --delimiter)"
        known = ", ".join(PHONE_COLUMNS)
        asked = f"column {wanted!r}" if wanted else f"phone column (one of: {known})"
        raise MissingColumnError(
            f"header has no {asked}; header is {self.header}{hint}",
            file=self.name,
            line=1,
            field="header",
        )

    def __iter__(self) -> Iterator[Row | Reject]:
        width, lines = len(self.header), self._lines
        while True:
            start = lines.start()
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except LineTooLong:
                if len(lines.taken) > 1:  # a quote left open ran into it: read it again
                    yield self._unclosed(start)
                else:
                    yield Reject(start, "", _too_long(), [])
                continue
            except csv.Error as exc:  # e.g. a field over CSV_FIELD_LIMIT
                if len(lines.taken) > 1:
                    yield self._unclosed(start)
                else:
                    yield Reject(start, "", f"unreadable CSV: {exc}", [])
                continue
            if (len(lines.taken) > 1 or lines.ended) and self._swallowed(fields, width):
                yield self._unclosed(start)
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            yield _check(start, fields, width, self.header)

    def _swallowed(self, fields: Sequence[str], width: int) -> bool:
        """Whether a row over several lines is a quote left open rather than a text with a
        line break: its field count is wrong, its quotes are odd, or a line it took in has a
        phone number in the phone column (a row of its own)."""
        taken = self._lines.taken
        if len(fields) != width or sum(line.count(QUOTE) for line in taken) % 2:
            return True
        for line in taken[1:]:
            cells = line.split(self.delimiter)
            if len(cells) > self.phone_index and PHONE_LIKE.fullmatch(cells[self.phone_index]):
                return True
        return False

    def _unclosed(self, start: int) -> Reject:
        """Reject the first line of a row a quote left open; read the lines after it again."""
        first, *rest = self._lines.taken
        self._lines.again(rest)
        cells = _repair(first.rstrip("\r\n").split(self.delimiter))
        opened = [i for i, cell in enumerate(cells) if cell.lstrip().startswith(QUOTE)]
        i = opened[-1] if opened else len(cells) - 1
        field = self.header[i] if i < len(self.header) else ""
        reason = (
            f"a quote ({QUOTE}) opens this field and is never closed on its line: "
            f"the line is rejected and line {start + 1} on is read as rows"
        )
        return Reject(start, field, reason, cells)


def _too_long() -> str:
    return f"line longer than {MAX_LINE_CHARS} characters: skipped without reading it"


_LONG_LINE = "<a line over MAX_LINE_CHARS>"  # this very object stands for one


class _Lines:
    """The file's lines for csv.reader, numbered; the lines of the row being read are kept
    (`taken`) so that those after a broken row's first can be read `again`.  A line over
    MAX_LINE_CHARS is read in pieces and dropped: it raises LineTooLong where it stands."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self._back: list[str] = []  # lines to read again, the next one last
        self.taken: list[str] = []
        self.count = 0  # lines handed out (less those given back)
        self.ended = False  # the file ran out while this row was read: a quote left open

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._back.pop() if self._back else self._read()
        self.taken.append(line)
        self.count += 1
        if line is _LONG_LINE:
            raise LineTooLong
        return line

    def _read(self) -> str:
        line = self._fh.readline(MAX_LINE_CHARS + 1)
        if not line:
            self.ended = True
            raise StopIteration
        if len(line) <= MAX_LINE_CHARS or line.endswith(("\n", "\r")):
            return line
        while (piece := self._fh.readline(DRAIN_CHARS)) and not piece.endswith(("\n", "\r")):
            pass
        return _LONG_LINE

    def start(self) -> int:
        """Begin a row: the number of its first line."""
        self.taken.clear()
        self.ended = False
        return self.count + 1

    def again(self, lines: Sequence[str]) -> None:
        self._back.extend(reversed(lines))
        self.count -= len(lines)


def _delimiter(delimiter: str, name: str) -> str:
    if len(delimiter) != 1 or delimiter in NOT_DELIMITERS:
        raise InputError(
            f"delimiter {delimiter!r} must be one character that is not a quote "
            f"or a line break, e.g. one of {DELIMITERS!r}",
            file=name,
            field="delimiter",
        )
    return delimiter


def _check(line: int, fields: list[str], width: int, header: Sequence[str]) -> Row | Reject:
    if len(fields) != width:
        reason = f"row has {len(fields)} fields, header has {width}"
        return Reject(line, "", reason, _repair(fields))  # its bytes may not be UTF-8
    if max(map(len, fields)) > MAX_FIELD_CHARS:
        i = next(i for i, value in enumerate(fields) if len(value) > MAX_FIELD_CHARS)
        reason = f"field longer than {MAX_FIELD_CHARS} characters"
        return Reject(line, header[i], reason, _repair(fields))
    bad = None if all(map(str.isascii, fields)) else _bad_utf8(fields)
    if bad is not None:
        return Reject(line, header[bad], "not valid UTF-8", _repair(fields))
    return Row(line, fields)


def _bad_utf8(fields: Sequence[str]) -> int | None:
    """Index of the first field holding undecodable bytes (as surrogates), if any."""
    for i, value in enumerate(fields):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return i
    return None


def _repair(fields: Sequence[str]) -> list[str]:
    """Make fields writable: undecodable bytes become U+FFFD."""
    return [f.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for f in fields]


def rows_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """In-memory rows as the CSV text a file of them would hold."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def from_csv_text(text: str, phone_column: str) -> CsvSource:
    """A source over CSV text in memory (used by the Python API), same checks as a file."""
    return CsvSource(io.StringIO(text), name="<api>", phone_column=phone_column, delimiter=",")
