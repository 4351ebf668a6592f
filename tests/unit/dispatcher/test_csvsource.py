"""The CSV reader: bad files fail before anything is enqueued; bad rows become rejects."""

from __future__ import annotations

import io

import pytest

from core.errors import InputError, MissingColumnError
from dispatcher.csvout import SafeCsvWriter, safe_cell
from dispatcher.csvsource import CsvSource, Reject, Row


def source(text: str | bytes, **kw: object) -> CsvSource:
    raw = text.encode() if isinstance(text, str) else text
    fh = io.TextIOWrapper(
        io.BytesIO(raw), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
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


@pytest.mark.parametrize("delimiter", ["ab", '"', "\n", "\r"])
def test_a_delimiter_that_is_not_one_plain_character_is_an_input_error(delimiter: str) -> None:
    with pytest.raises(InputError, match="delimiter") as e:
        source("phone,name\n0812345678,Ann\n", delimiter=delimiter)
    assert e.value.field == "delimiter" and e.value.file == "c.csv"


def test_a_stray_quote_rejects_its_line_and_the_rows_after_it_are_read() -> None:
    """A quote that opens a field and never closes would swallow the rest of the file into
    one row: that line is rejected, naming where, and reading goes on at the next line."""
    items = list(
        source('phone,name\n0812345678,Ann\n0812345679,"Bob\n0812345670,Cat\n0812345671,Dan\n')
    )
    assert [type(i) for i in items] == [Row, Reject, Row, Row]
    bad = items[1]
    assert isinstance(bad, Reject) and (bad.line, bad.field) == (3, "name")
    assert "quote" in bad.reason and "never closed" in bad.reason
    assert bad.fields == ["0812345679", '"Bob']  # the line as written, for the rejects file
    assert items[2] == Row(4, ["0812345670", "Cat"]) and items[3] == Row(5, ["0812345671", "Dan"])


def test_two_stray_quotes_do_not_make_one_row_of_the_lines_between() -> None:
    items = list(source('phone,name\n0812345678,"Ann\n0812345679,Bob\n0812345670,Cat"\n'))
    assert isinstance(items[0], Reject) and items[0].line == 2
    assert items[1] == Row(3, ["0812345679", "Bob"])
    assert isinstance(items[2], Row) and items[2].line == 4  # 'Cat"': a quote inside a field


def test_a_quoted_field_over_several_lines_is_still_one_row() -> None:
    items = list(source('phone,name\n0812345678,"Ann\nSmith"\n0812345679,Bob\n'))
    assert items == [Row(2, ["0812345678", "Ann\nSmith"]), Row(4, ["0812345679", "Bob"])]


def test_a_header_with_an_unclosed_quote_is_refused_at_line_one() -> None:
    with pytest.raises(InputError, match="quote") as e:
        source('phone,"name\n0812345678,Ann\n')
    assert (e.value.line, e.value.field) == (1, "header")
