"""The Grafana dashboard in examples/ only charts metrics the product exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_charted_metric_is_exported() -> None:
    dash = json.loads((ROOT / "examples" / "grafana-dashboard.json").read_text())
    names = re.compile(r"\b(sms_[a-z_]+?)(?:_bucket|_count|_sum)?\b")
    charted = {m for p in dash["panels"] for t in p["targets"] for m in names.findall(t["expr"])}
    code = "".join(
        p.read_text() for d in ("dispatcher", "workers") for p in (ROOT / d).rglob("*.py")
    )
    missing = {m for m in charted if f'"{m}"' not in code}
    assert len(charted) >= 8 and not missing, missing
