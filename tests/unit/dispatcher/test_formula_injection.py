"""Formula injection in every CSV we write (issue 20): a cell starting with `=`, `+`, `-`,
`@`, tab or carriage return is written with a leading `'`, so a spreadsheet shows it as
text.  The paths: `smsdispatch export` (export.export), `GET .../export` (export.pieces),
`GET .../rejects` (KeptRejects) and an import's rejects file (SafeCsvWriter), with such
values in every text column: to, status, error, the reason and the rejected rows (state
is one of our names).  The HTTP handlers stream exactly what export.pieces and KeptRejects
give them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import fakeredis
import pytest
from hypothesis import given
from hypothesis import settings as hyp
from hypothesis import strategies as st

from core import keys
from core.outcomes import Event, State, StreamPolicy, record
from dispatcher.campaign import CampaignSpec, Importer, KeptRejects
from dispatcher.csvout import FORMULA_START, SafeCsvWriter, safe_cell
from dispatcher.csvsource import CsvSource
from dispatcher.reports.export import export, pieces
from providers.ants import PROFILE as ANTS

POLICY = StreamPolicy(maxlen=10_000, final_ttl=3600)
PAYLOADS = (
    "=cmd|' /C calc'!A0",
    "+66812345678",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    '=HYPERLINK("http://x")',
)


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_formula(rows: Iterable[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START), f"a live formula: {cell!r} in {row}"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_an_export_neutralises_every_column(payload: str) -> None:
    store = fakeredis.FakeRedis()
    store.hset(keys.campaign_meta("c"), mapping={"last_line": 2})
    event = Event(
        "c-2",
        "c",
        State.FAILED,
        "c-b0",
        payload,
        1,
        status_id=payload,
        status_name=payload,
        error_id=payload,
        permanent="1",
        reason=payload,
    )
    record(store, [event], POLICY)
    out = io.StringIO()
    assert export(store, "c", out) == 1
    streamed = b"".join(pieces(store, "c", size=16)).decode()
    assert streamed == out.getvalue()  # GET .../export writes what smsdispatch export does
    rows = cells(out.getvalue())
    assert_no_formula(rows)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2  # one row: a CR in a value splits nothing
    assert row["to"].startswith("'") and row["status"].startswith("'")
    assert row["error"].startswith("'")


def test_an_import_s_rejects_neutralise_reason_header_and_raw_rows() -> None:
    evil = "=cmd|' /C calc'!A0"
    lines = [
        f"phone,{evil}",
        f"{evil},@x",
        "0812345678,-1",
        '0812345678,"\t=1"',
        '0812345678,"\r=2"',
        '0812345678,"ok\r=3"',
    ]
    text = "\n".join(lines) + "\n"
    out = io.StringIO()
    kept = KeptRejects()
    for writer in (SafeCsvWriter(out), kept):
        spec = CampaignSpec("c", "Shop", "Hi", "TH", 100, 60, profile=ANTS)
        Importer(fakeredis.FakeRedis(), lambda batch: None, spec, writer).run(
            CsvSource(io.StringIO(text), name="c.csv")
        )
    file_rows, kept_rows = cells(out.getvalue()), cells(kept.data.decode())
    assert file_rows == kept_rows  # GET .../rejects keeps what the rejects file holds
    assert_no_formula(file_rows)
    assert file_rows[0][4] == "'" + evil  # the file's own header
    assert [r[0] for r in file_rows[1:]] == ["2", "4", "5", "6"]  # one row each: nothing split
    assert [r[3:] for r in file_rows[1:]] == [
        ["'" + evil, "'@x"],
        ["0812345678", "'\t=1"],
        ["0812345678", "'\r=2"],
        ["0812345678", "ok\r=3"],
    ]


@given(st.text(max_size=30))
@hyp(max_examples=300, deadline=None, derandomize=True)
def test_a_written_cell_never_starts_a_formula_and_reads_back_as_written(value: str) -> None:
    out = io.StringIO()
    SafeCsvWriter(out).writerow([value, "x"])
    [[cell, _]] = cells(out.getvalue())
    assert not cell.startswith(FORMULA_START)
    assert cell == (value if cell == value else "'" + value)
    assert safe_cell(value) == cell
