"""What an import over HTTP keeps of its rejects: the first rows, bounded, and the count."""

from __future__ import annotations

import csv
import io

import pytest

from dispatcher import campaign as campaigns
from dispatcher.campaign import KeptRejects


def rows(kept: KeptRejects) -> list[list[str]]:
    return list(csv.reader(io.StringIO(kept.data.decode())))


def test_the_first_rows_are_kept_whole_and_every_row_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(campaigns, "REJECTS_KEPT_ROWS", 3)
    kept = KeptRejects()
    kept.writerow(["line", "field", "reason", "phone"])
    for line in range(2, 12):
        kept.writerow([line, "phone", "invalid number", "=12"])
    assert (kept.total, kept.kept) == (10, 3)
    assert rows(kept) == [
        ["line", "field", "reason", "phone"],
        ["2", "phone", "invalid number", "'=12"],
        ["3", "phone", "invalid number", "'=12"],
        ["4", "phone", "invalid number", "'=12"],
    ]


def test_a_row_over_the_byte_cap_ends_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "REJECTS_KEPT_BYTES", 200)
    kept = KeptRejects()
    kept.writerow(["line", "reason", "name"])
    kept.writerow([2, "too long", "ก" * 20])  # 60 bytes of UTF-8
    kept.writerow([3, "too long", "ก" * 60])  # 180 more: over the cap
    kept.writerow([4, "short", "x"])  # would fit, but rows stay the first ones
    assert (kept.total, kept.kept) == (3, 1) and len(kept.data) <= 200
    assert [r[0] for r in rows(kept)] == ["line", "2"]
