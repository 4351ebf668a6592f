"""The CSV reader: bad files fail before anything is enqueued; bad rows become rejects."""

from __future__ import annotations

import io

import pytest

from core.errors import InputError, MissingColumnError
from dispatcher.csvout import SafeCsvWriter, safe_cell
from dispatcher.csvsource import CsvSource, Reject, Row


def source(text: str | bytes, **kw: object) -> CsvSource:
    raw = text.encode() if isinstance(text, str) else text
    fh = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", errors="surrogateescape",
                          newline="")  # fmt: skip
    return CsvSource(fh, name="c.csv", **kw)  # type: ignore[arg-type]


def test_reads_rows_with_line_numbers_and_bom() -> None:
    src = source("\ufeffPhone,name\n0812345678,Ann\n\n0812345679,Bob\n")
    assert src.header == ["Phone", "name"] and src.phone_index == 0
    rows = list(src)
    assert rows == [Row(2, ["0812345678", "Ann"]), Row(4, ["0812345679", "Bob"])]


def test_empty_file_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="empty") as e:
        source("")
    assert e.value.file == "c.csv"


def test_no_header_is_a_clear_error() -> None:
    with pytest.raises(MissingColumnError, match="looks like data") as e:
        source("0812345678,Ann\n0812345679,Bob\n")
    assert e.value.line == 1 and e.value.field == "header"


def test_semicolon_delimiter_is_sniffed() -> None:
    src = source("msisdn;name\n0812345678;Ann\n")
    assert src.delimiter == ";" and list(src) == [Row(2, ["0812345678", "Ann"])]


def test_wrong_explicit_delimiter_names_the_problem() -> None:
    with pytest.raises(MissingColumnError, match="delimiter"):
        source("phone;name\n0812345678;Ann\n", delimiter=",")


def test_named_phone_column() -> None:
    assert source("id,cell\n1,0812345678\n", phone_column="cell").phone_index == 1
    with pytest.raises(MissingColumnError, match="'mobile_no'"):
        source("id,cell\n1,0812345678\n", phone_column="mobile_no")


def test_non_utf8_row_is_rejected_and_others_carry_on() -> None:
    raw = b"phone,name\n0812345678,Ann\n0812345679,B\xff\xfeb\n0812345670,Cat\n"
    items = list(source(raw))
    assert isinstance(items[1], Reject)
    assert (items[1].line, items[1].field, items[1].reason) == (3, "name", "not valid UTF-8")
    assert "\ufffd" in items[1].fields[1]  # the rejects file can still be written as UTF-8
    assert isinstance(items[0], Row) and isinstance(items[2], Row)


def test_one_megabyte_field_is_rejected_not_fatal() -> None:
    big = "x" * 1_000_000
    items = list(source(f"phone,name\n0812345678,{big}\n0812345679,Bob\n"))
    assert isinstance(items[0], Reject) and items[0].field == "name"
    assert "longer than" in items[0].reason and len(items[0].fields[1]) == 1_000_000
    assert isinstance(items[1], Row)


def test_wrong_field_count_is_rejected() -> None:
    items = list(source("phone,name\n0812345678,Ann,extra\n"))
    assert isinstance(items[0], Reject) and "3 fields" in items[0].reason


def test_formula_cells_are_escaped_in_output() -> None:
    out = io.StringIO()
    SafeCsvWriter(out).writerow(["=cmd|' /C calc'!A0", "+1", "-2", "@x", "plain", 3])
    assert out.getvalue() == "'=cmd|' /C calc'!A0,'+1,'-2,'@x,plain,3\n"
    assert safe_cell("\tTAB") == "'\tTAB" and safe_cell(None) == ""
