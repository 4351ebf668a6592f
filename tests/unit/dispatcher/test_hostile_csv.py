"""Hostile CSVs through the reader and the import (issue 20): hypothesis-made files of
random bytes, other encodings (UTF-16 with BOM, cp1251, latin-1), quotes, NUL bytes, lines
over a megabyte, empty files and lone headers, imported with `dispatcher.api.import_csv`
on fakeredis, its rejects file written as `smsdispatch import` writes it.

Properties:
- never a traceback: an import either reports, or raises an InputError naming the file
  (and the line and field where there is one);
- nothing lost: every row read is imported or in the rejects file, once, and counted
  (rows = valid + invalid + opted out; the rejects file holds invalid + opted out rows);
  in a file without quotes, every line that is not blank is exactly one of those rows;
- bounded memory per line: a line over MAX_LINE_CHARS is rejected, with that reason,
  without being held whole.
"""

from __future__ import annotations

import csv
import io
import tempfile
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp
from hypothesis import strategies as st

from config.settings import Settings
from core.errors import InputError
from dispatcher import api
from dispatcher.csvsource import MAX_LINE_CHARS, CsvSource, LineTooLong, Reject, Row, open_text

EXAMPLES = 150  # per property: each file is small, so a few seconds in all
CAMPAIGN = "hostile"
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1251", "latin-1")
HEADER = "phone,name,code"
LONG_LINE = "0812345600," + "x" * (MAX_LINE_CHARS + 10) + ",1"
HOSTILE = hyp(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same files on every run: CI stays repeatable
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)


@dataclass
class Imports:
    store: fakeredis.FakeRedis
    sent: list[dict[str, Any]]


@dataclass
class Outcome:
    report: api.ImportReport | None
    error: InputError | None
    imported: list[int]  # the CSV lines of the enqueued messages
    rejected: list[int]  # the CSV lines in the rejects file
    reasons: list[str]


@pytest.fixture
def importing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Imports]:
    """import_csv on fakeredis (flushed before each file); the batches it enqueues are kept."""
    store = fakeredis.FakeRedis()
    imports = Imports(store, [])
    monkeypatch.setattr(api, "sync_redis", lambda *args, **kwargs: store)
    monkeypatch.setattr(api, "enqueuer", lambda settings: imports.sent.append)
    yield imports


def run_import(raw: bytes, imports: Imports, **options: Any) -> Outcome:
    imports.store.flushall()
    imports.sent.clear()
    sent = imports.sent
    with tempfile.TemporaryDirectory(prefix="hostile-csv-") as folder:
        path = Path(folder) / "list.csv"
        path.write_bytes(raw)
        try:
            report = api.import_csv(
                path,
                campaign=CAMPAIGN,
                text="Hi {name}",
                settings=Settings(redis_url="redis://fake"),
                **options,
            )
        except InputError as exc:
            assert exc.file == str(path), f"the error names no file: {exc!r}"
            return Outcome(None, exc, [], [], [])
        rejects_path = api.default_rejects(path)
        with rejects_path.open(encoding="utf-8", newline="") as fh:  # UTF-8, every byte
            table = list(csv.reader(fh))
    assert table[0][:3] == ["line", "field", "reason"]
    imported = [int(d[0].rsplit("-", 1)[1]) for batch in sent for d in batch["d"]]
    rejected = [int(row[0]) for row in table[1:]]
    return Outcome(report, None, imported, rejected, [row[2] for row in table[1:]])


def assert_nothing_lost(outcome: Outcome) -> None:
    report = outcome.report
    assert report is not None
    assert report.rows == report.valid + report.invalid + report.duplicates + report.opted_out
    assert len(outcome.imported) == report.valid
    assert len(outcome.rejected) == report.invalid + report.duplicates + report.opted_out
    lines = outcome.imported + outcome.rejected
    assert len(set(lines)) == len(lines), "a line both imported and rejected, or twice"
    assert all(line >= 2 for line in lines)


def data_lines(raw: bytes) -> list[int]:
    """The numbers of the lines that are not blank (as the reader splits lines)."""
    text = io.TextIOWrapper(
        io.BytesIO(raw), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    numbers = []
    for number, line in enumerate(text, 1):
        content = line.rstrip("\r\n")
        if number > 1 and content and ("," in content or content.strip()):
            numbers.append(number)
    return numbers


# -- what files are made of -------------------------------------------------------------

phones = st.sampled_from(
    [
        "0812345678",
        "0812345679",
        "+66812345670",
        "66812345671",
        "08123",
        "not a number",
        "",
        " 0812345672 ",
        "081234567\x00",
        "๐๘๑๒๓๔๕๖๗๘",
    ]
)
cells = st.one_of(
    st.text(st.characters(exclude_characters="\r\n"), max_size=20),
    st.sampled_from(
        [
            "=cmd|' /C calc'!A0",
            "@SUM(1)",
            "\x00",
            '"',
            '""',
            '"quoted"',
            "a,b",
            "Аня",
            "José",
            "สมศรี",
            "\ufeff",
            "\udcff",
        ]
    ),
)
rows = st.lists(cells, min_size=1, max_size=4).map(",".join)
phone_rows = st.tuples(phones, cells, cells).map(",".join)
line_ends = st.sampled_from(["\n", "\r\n"])


@st.composite
def csv_files(draw: st.DrawFn, quotes: bool = True) -> bytes:
    """A header (usually a good one), rows good and bad, one encoding, maybe a long line."""
    header = draw(st.one_of(st.just(HEADER), st.just(HEADER), rows))
    lines = draw(st.lists(st.one_of(phone_rows, rows, st.just(""), st.just("   ")), max_size=12))
    if draw(st.booleans()) and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), LONG_LINE)
    end = draw(line_ends)
    text = end.join([header, *lines]) + draw(st.sampled_from([end, ""]))
    if not quotes:
        text = text.replace('"', "'")
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, "surrogateescape" if "utf-8" in encoding else "replace")


raw_bytes = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda tail: HEADER.encode() + b"\n" + tail),
    st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            HEADER.encode(),
            HEADER.encode() + b"\n",
            b"\n\n\n",
            b'"',
            b"\x00\x00\x00",
            b"phone\n\x00\n",
        ]
    ),
)


# -- the properties ---------------------------------------------------------------------


@given(raw=st.one_of(csv_files(), raw_bytes))
@HOSTILE
def test_an_import_reports_or_names_where_and_loses_nothing(raw: bytes, importing: Imports) -> None:
    outcome = run_import(raw, importing)
    if outcome.error is None:
        assert_nothing_lost(outcome)


@given(raw=csv_files(quotes=False))
@HOSTILE
def test_without_quotes_every_line_that_is_not_blank_is_one_row(
    raw: bytes, importing: Imports
) -> None:
    outcome = run_import(raw, importing)
    if outcome.error is not None:
        assert outcome.error.line in (1, None), "only the header can make the file unusable"
        return
    assert_nothing_lost(outcome)
    assert sorted(outcome.imported + outcome.rejected) == data_lines(raw)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1251", "latin-1"])
def test_a_file_in_another_encoding_is_refused_or_its_rows_rejected_by_line(
    encoding: str, importing: Imports
) -> None:
    name = "José" if encoding == "latin-1" else "Аня"
    text = f"phone,name,code\n0812345678,{name},1\n0812345679,Bob,2\n0812345670,{name},3,x\n"
    outcome = run_import(text.encode(encoding), importing)
    if encoding == "utf-16":  # its header is not UTF-8: refused, naming line 1
        assert outcome.error is not None and outcome.error.line == 1
        assert "UTF-8" in outcome.error.reason
        return
    assert (outcome.imported, sorted(outcome.rejected)) == ([3], [2, 4])


def test_empty_files_and_lone_headers(importing: Imports) -> None:
    for raw in (b"", b"\xef\xbb\xbf", b"\n\n"):
        outcome = run_import(raw, importing)
        assert outcome.error is not None and "empty" in outcome.error.reason
    for raw in (b"phone,name\n", b"phone,name", b"\xef\xbb\xbfphone,name\r\n\r\n"):
        outcome = run_import(raw, importing)  # a header alone: refused, no empty campaign
        assert outcome.error is not None and "no rows" in outcome.error.reason


def test_a_line_over_the_limit_is_rejected_without_being_held_whole(
    importing: Imports,
) -> None:
    raw = f"phone,name,code\n0812345678,Ann,1\n{LONG_LINE}\n0812345679,Bob,2\n".encode()
    outcome = run_import(raw, importing)
    assert (outcome.imported, outcome.rejected) == ([2, 4], [3])
    assert f"longer than {MAX_LINE_CHARS} characters" in outcome.reasons[0]
    # the reader alone, a line of 8 MiB: what it holds at once stays near one limit
    big = "phone,name\n0812345678," + "y" * (8 * 1024 * 1024) + "\n0812345679,Bob\n"
    with tempfile.TemporaryDirectory(prefix="hostile-csv-") as folder:
        path = Path(folder) / "big.csv"
        path.write_text(big)
        with open_text(path) as fh:
            tracemalloc.start()
            try:
                items = list(CsvSource(fh, name="big.csv"))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert [type(i) for i in items] == [Reject, Row]
    assert peak < 4 * MAX_LINE_CHARS, f"{peak} bytes held for one line"


def test_a_long_header_is_an_input_error_at_line_one() -> None:
    with pytest.raises(InputError, match="longer than") as caught:
        CsvSource(io.StringIO("phone," + "h" * (MAX_LINE_CHARS + 1) + "\n1,2\n"), name="h.csv")
    assert (caught.value.line, caught.value.field) == (1, "header")
    assert issubclass(LineTooLong, Exception)


def test_a_quote_left_open_on_the_last_line_rejects_that_line(
    importing: Imports,
) -> None:
    outcome = run_import(b'phone,name,code\n0812345678,Ann,1\n0812345679,"Bob,2\n', importing)
    assert (outcome.imported, outcome.rejected) == ([2], [3])
    assert "never closed" in outcome.reasons[0]
