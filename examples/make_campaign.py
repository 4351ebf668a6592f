"""Write a sample campaign CSV: N recipients in mixed Thai number formats, a few bad rows.

python examples/make_campaign.py examples/campaign.csv 10000
"""

from __future__ import annotations

import csv
import random
import sys

NAMES = ["Somchai", "Somsak", "Malee", "Ann", "Niran", "Kanya", "Preecha", "Ploy", "สมศรี", "วิชัย"]
PREFIXES = ["81", "82", "83", "84", "85", "86", "87", "88", "89", "61", "62", "63", "64", "65"]
BAD_ROWS = [
    ["12345", "Short", "X1"],  # too short
    ["not-a-number", "Text", "X2"],  # not a number
    ["", "Empty", "X3"],  # empty phone
    ["=cmd|' /C calc'!A0", "Formula", "X4"],  # spreadsheet formula injection attempt
    ["0212345678", "Landline", "X5"],  # a Bangkok landline with one digit too many
]


def number(i: int, rng: random.Random) -> str:
    national = rng.choice(PREFIXES) + f"{i:07d}"[-7:]
    return rng.choice([f"0{national}", f"66{national}", f"+66 {national[:2]} {national[2:]}"])


def main(path: str, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["phone", "name", "code"])
        bad_at = {n // (len(BAD_ROWS) + 1) * (k + 1): row for k, row in enumerate(BAD_ROWS)}
        first = ""
        for i in range(n - len(BAD_ROWS) - 2):
            phone = number(i, rng)
            first = first or phone
            w.writerow([phone, rng.choice(NAMES), f"{rng.randrange(10**6):06d}"])
            if i in bad_at:
                w.writerow(bad_at[i])
        w.writerow([first, "Duplicate", "D1"])  # same number as the first row
        w.writerow(["0891234567", "Too", "many", "fields"])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10_000)
