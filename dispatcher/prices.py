"""The price table `smsdispatch plan` costs a campaign with: what one SMS part costs, per
destination country and provider (`config/prices.csv`, or the file SMS_PRICES names).

    country,provider,price_per_part,currency      # lines starting with # are comments
    TH,ants,0.35,THB
    *,ants,1.50,THB                                # * matches any country or provider

The most specific row wins: country and provider, country and *, * and provider, *
and *.  A bad row is an InputError naming the file, line and field.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.errors import InputError

ANY = "*"
COLUMNS = ("country", "provider", "price_per_part", "currency")
Price = tuple[Decimal, str]  # per part, currency


class Prices:
    def __init__(self, rows: dict[tuple[str, str], Price], source: str = "") -> None:
        self.rows = rows
        self.source = source
        self._cache: dict[tuple[str, str], Price | None] = {}

    @classmethod
    def load(cls, path: str | Path) -> Prices:
        """The table in `path`; a missing file is an empty table (every part unpriced)."""
        path = Path(path)
        if not path.exists():
            return cls({}, f"{path} (missing: nothing priced)")
        rows: dict[tuple[str, str], Price] = {}
        with path.open(encoding="utf-8", newline="") as fh:
            lines = (line for line in fh if not line.lstrip().startswith("#"))
            for row in csv.DictReader(lines):
                rows[_key(row)] = _price(row, path)
        return cls(rows, str(path))

    def of(self, country: str, provider: str) -> Price | None:
        """The price of one part to `country` through `provider`, or None."""
        key = (country, provider)
        if key not in self._cache:
            tries = (key, (country, ANY), (ANY, provider), (ANY, ANY))
            self._cache[key] = next((self.rows[k] for k in tries if k in self.rows), None)
        return self._cache[key]


def _key(row: dict[str, str | None]) -> tuple[str, str]:
    return (
        (row.get("country") or ANY).strip().upper().replace("*", ANY),
        (row.get("provider") or ANY).strip().lower(),
    )


def _price(row: dict[str, str | None], path: Path) -> Price:
    raw, currency = (row.get("price_per_part") or "").strip(), (row.get("currency") or "").strip()
    try:
        price = Decimal(raw)
    except InvalidOperation:
        price = Decimal(-1)
    if price < 0 or not currency:
        line = f"{row.get('country')},{row.get('provider')},{raw},{currency}"
        raise InputError(
            f"expected a price >= 0 and a currency, got {line!r}",
            file=str(path),
            field="price_per_part",
        )
    return price, currency
