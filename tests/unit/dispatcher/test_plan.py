"""`plan`: a dry run that reads the file as import does, counts, costs and forecasts, and
writes nothing; `import --plan-hash` refuses a changed file or text; opt-outs at import."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis

from config.settings import Settings
from core import keys, optout
from core.errors import CampaignConflict, InputError, PlanChanged
from core.limits.spec import Rate
from dispatcher import api
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvout import SafeCsvWriter
from dispatcher.csvsource import CsvSource
from dispatcher.plan import Planner, forecast
from providers.ants import PROFILE as ANTS

LONG = "x" * 150  # a name that pushes "Hi {name}, ..." past 160 septets
CSV = f"""phone,name
0812345601,Ann
0812345602,สมศรี
not-a-number,Bad
0812345603,Zoë
0812345601,Dup
0812345604,{LONG}
0812345605,Eve
+420601123456,Jan
"""


def spec(text: str = "Hi {name}, see you", gsm_safe: bool = False, **kw: Any) -> CampaignSpec:
    return CampaignSpec("plan", "Shop", text, "TH", 2, 60, profile=ANTS, gsm_safe=gsm_safe, **kw)


def settings(tmp_path: Path, **kw: Any) -> Settings:
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "# comment\ncountry,provider,price_per_part,currency\nTH,ants,0.25,THB\n*,*,2,EUR\n"
    )
    return Settings(provider="ants", prices=str(prices), **kw)


def plan(store: redis.Redis, tmp_path: Path, csv_text: str = CSV, **kw: Any) -> Any:
    s = settings(tmp_path, **{k: kw.pop(k) for k in ("rate",) if k in kw})
    source = CsvSource(io.StringIO(csv_text), name="c.csv")
    return Planner(store, spec(**kw), s, "h", "c.csv").run(source)


def test_counts_groups_changes_and_cost(store: redis.Redis, tmp_path: Path) -> None:
    optout.add(store, optout.entries_for(["66812345605"], optout.MANUAL, "asked"))
    p = plan(store, tmp_path)
    assert (p.rows, p.valid, p.invalid, p.duplicates, p.opted_out) == (8, 5, 1, 1, 1)
    assert (p.encoding, p.parts) == ("GSM7", 1)
    groups = {k: (g.recipients, g.parts) for k, g in p.groups.items()}
    assert groups == {
        "TH|GSM7|1": (1, 1),
        "TH|UCS2|1": (2, 2),
        "TH|GSM7|2": (1, 2),
        "CZ|GSM7|1": (1, 1),
    }
    assert p.recipients_parts == 6
    # lines 3 (Thai) and 5 (ë: not in GSM 03.38) turn UCS-2; line 7 needs a second part
    assert [(e.line, e.chars) for e in p.examples_encoding] == [(3, "สมศรี"), (5, "ë")]
    assert [(e.line, e.parts) for e in p.examples_parts] == [(7, 2)]
    assert (p.changed_encoding, p.changed_parts) == (2, 1)
    assert p.chars["ë"] == 1 and p.chars["ส"] == 1
    assert p.cost == {"EUR": "2", "THB": "1.25"}  # 5 TH parts at 0.25, 1 CZ part at 2
    assert p.rejects == [
        "line 4 [phone]: not a phone number: The string supplied did not seem to be a phone number."
    ]


def test_plan_writes_nothing(store: redis.Redis, tmp_path: Path) -> None:
    optout.add(store, optout.entries_for(["66812345605"], optout.MANUAL, "asked"))
    before = {k: store.type(k) for k in store.scan_iter()}
    plan(store, tmp_path)
    assert {k: store.type(k) for k in store.scan_iter()} == before


def test_gsm_safe_replaces_lookalikes_and_leaves_thai(store: redis.Redis, tmp_path: Path) -> None:
    text = "Hi {name}, it\u2019s \u201con\u201d \u2014 see you\u2026"
    p = plan(store, tmp_path, text=text)
    assert (p.encoding, p.not_gsm, p.gsm_safe_would_fix) == (
        "UCS2",
        "\u2019\u201c\u201d\u2014\u2026",
        True,
    )
    p = plan(store, tmp_path, text=text, gsm_safe=True)
    assert (p.encoding, p.not_gsm) == ("GSM7", "")
    # 5 rows would be sent, 6 rendered: Thai and ë rows stay UCS-2, untouched
    assert p.replaced == {"\u2019": 5, "\u201c": 5, "\u201d": 5, "\u2014": 5, "\u2026": 5}
    assert [e.line for e in p.examples_encoding] == [3, 5]
    shared = plan(store, tmp_path, text="Sale \u2013 20% off", gsm_safe=True)  # no merged field
    assert (shared.encoding, shared.replaced) == ("GSM7", {"\u2013": 1})
    assert list(shared.groups) == ["TH|GSM7|1", "CZ|GSM7|1"]


def test_import_gsm_safe_sends_the_replaced_text(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []
    text = "Hi {name}, it\u2019s on"
    imp = Importer(store, sent.append, spec(text, gsm_safe=True))
    report = imp.run(
        CsvSource(io.StringIO("phone,name\n0812345601,Ann\n0812345602,สม\n"), name="c.csv")
    )
    texts = [d[2] for b in sent for d in b["d"]]
    assert texts == ["Hi Ann, it's on", "Hi สม, it\u2019s on"]
    assert report.replaced == {"\u2019": 1}


def test_import_skips_opted_out_numbers_and_keeps_batches(store: redis.Redis) -> None:
    optout.add(store, optout.entries_for(["66812345602"], optout.MANUAL, "asked by phone"))
    sent: list[dict[str, Any]] = []
    out = io.StringIO()
    imp = Importer(store, sent.append, spec("Hi {name}"), SafeCsvWriter(out))
    report = imp.run(CsvSource(io.StringIO(CSV), name="c.csv"))
    ids = [[d[0] for d in b["d"]] for b in sent]
    # batches of 2 over the unique valid rows; line 3's place stays empty
    assert ids == [["plan-2"], ["plan-5", "plan-7"], ["plan-8", "plan-9"]]
    assert (report.valid, report.opted_out) == (5, 1)
    assert "on the opt-out list (manual: asked by phone)" in out.getvalue()
    assert store.hget(keys.campaign_meta("plan"), "opted_out") == b"1"


def test_forecast_rate_window_and_validity(tmp_path: Path) -> None:
    s = settings(tmp_path, rate=Rate(20, 1000), transactional_share=0.2)
    sp = spec(send_at_ms=1_796_000_000_000)
    f = forecast(s, sp, 9_000, 9_000, {})
    assert (f.rate_per_s, f.busy_rate_per_s, f.seconds, f.miss_validity) == (20, 16, 450, 0)
    # a 60-minute validity holds 72,000 parts at 20/s: 8,000 of 80,000 messages miss it
    f = forecast(s, sp, 80_000, 80_000, {})
    assert (f.seconds, f.miss_validity) == (None, 8_000)
    # window 09:00-09:10 Bangkok, from 09:00: 600 s x 20 parts, the rest misses validity
    nine = datetime(2031, 1, 6, 9, 0, tzinfo=ZoneInfo("Asia/Bangkok"))  # in the future
    window = spec(send_at_ms=int(nine.timestamp() * 1000), window="09:00-09:10")
    f = forecast(s, window, 20_000, 20_000, {"Asia/Bangkok": [20_000.0, 20_000.0]})
    assert (f.seconds, f.miss_validity) == (None, 8_000)
    f = forecast(s, window, 10_000, 10_000, {"Asia/Bangkok": [10_000.0, 10_000.0]})
    assert (f.seconds, f.miss_validity) == (500, 0)


def test_plan_hash_approves_only_the_planned_file_and_text(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    s = settings(tmp_path, redis_url=redis_url, sender="Shop")
    p = api.plan_csv(path, text="Hi {name}", settings=s)
    with pytest.raises(PlanChanged, match="changed since the plan"):
        api.import_csv(path, campaign="c1", text="Hi {name}!", settings=s, plan_hash=p.hash)
    path.write_text(CSV + "0812345606,New\n", encoding="utf-8")
    with pytest.raises(PlanChanged):
        api.import_csv(path, campaign="c1", text="Hi {name}", settings=s, plan_hash=p.hash)
    assert not r.exists(keys.campaign_meta("c1"))
    again = api.plan_csv(path, text="Hi {name}", settings=s)
    assert again.hash != p.hash
    report = api.import_csv(path, campaign="c1", text="Hi {name}", settings=s, plan_hash=again.hash)
    assert (report.enqueued, report.valid) == (1, 7)


def test_cli_plan_json_and_optout_commands(
    r: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatcher import cli

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SMS_PRICES", str(settings(tmp_path).prices))
    stop = tmp_path / "stop.csv"
    stop.write_text("mobile\n0812345602\nnot-a-number\n+420601123456\n", encoding="utf-8")
    assert cli.main(["optout", "import", str(stop), "--reason", "STOP replies"]) == 0
    out = capsys.readouterr()
    assert "2 numbers taken" in out.err and "line 3: not a phone number" in out.err
    assert cli.main(["optout", "add", "0812345603", "--days", "7"]) == 0
    assert cli.main(["optout", "add", "12"]) == 2  # a bad number is named, nothing added
    assert "'12'" in capsys.readouterr().err
    assert cli.main(["optout", "list"]) == 0
    listed = {e["number"]: e for e in map(orjson.loads, capsys.readouterr().out.splitlines())}
    assert set(listed) == {"66812345602", "420601123456", "66812345603"}
    assert listed["66812345602"]["reason"] == "STOP replies" and listed["66812345603"]["expires"]
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    assert cli.main(["plan", str(path), "--text", "Hi {name}", "--json"]) == 0
    p = orjson.loads(capsys.readouterr().out)
    assert (p["valid"], p["opted_out"], p["duplicates"]) == (3, 3, 1)
    assert cli.main(["optout", "remove", "0812345602", "0812345603"]) == 0
    assert "2 of 2 numbers removed" in capsys.readouterr().err
    assert cli.main(["plan", str(path), "--text", "Hi {name}, see you"]) == 0
    table = capsys.readouterr().err
    assert "plan hash:" in table and "line 7: 2 parts" in table


def test_plan_import_status_and_rejects_count_one_way(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Issue 21: plan said 6 invalid where import, status and the API said 7 (the duplicate
    counted twice); and a CLI import's rejects are kept for GET .../rejects like the API's."""
    from dispatcher import control
    from dispatcher.campaign import REJECTS_TOTAL

    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    s = settings(tmp_path, redis_url=redis_url, sender="Shop")
    p = api.plan_csv(path, text="Hi {name}", settings=s)
    report = api.import_csv(path, campaign="c1", text="Hi {name}", settings=s)
    st = control.status(r, "c1")
    planned = (p.rows, p.valid, p.invalid, p.duplicates, p.opted_out)
    assert planned == (
        report.rows,
        report.valid,
        report.invalid,
        report.duplicates,
        report.opted_out,
    )
    assert planned == (st["rows"], st["valid"], st["invalid"], st["duplicates"], st["opted_out"])
    assert p.rows == p.valid + p.invalid + p.duplicates + p.opted_out
    kept = b"".join(r.lrange(keys.campaign_rejects("c1"), 0, -1)).decode()
    assert "duplicate of line 2" in kept and "not-a-number" in kept
    assert r.hget(keys.campaign_meta("c1"), REJECTS_TOTAL) == b"2"
    assert kept == (tmp_path / "c.csv.rejects.csv").read_text(encoding="utf-8")


def test_a_header_only_file_is_refused_and_writes_nothing(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("phone,name\n", encoding="utf-8")
    s = settings(tmp_path, redis_url=redis_url, sender="Shop")
    with pytest.raises(InputError, match="no rows"):
        api.import_csv(path, campaign="c1", text="Hi {name}", settings=s)
    with pytest.raises(InputError, match="no rows"):
        api.plan_csv(path, text="Hi {name}", settings=s)
    assert not r.sismember(keys.CAMPAIGNS, "c1") and not r.exists(keys.campaign_meta("c1"))


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("text", {"text": "Bye {name}"}),
        ("sender", {"sender": "Other"}),
        ("provider", {"provider": "smsc"}),
    ],
)
def test_a_reimport_that_changes_text_sender_or_provider_is_refused(
    r: redis.Redis, redis_url: str, tmp_path: Path, field: str, change: dict[str, str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    s = settings(tmp_path, redis_url=redis_url, sender="Shop")
    first = {"text": "Hi {name}", "sender": "Shop"}
    api.import_csv(path, campaign="c1", settings=s, **first)  # type: ignore[arg-type]
    again = api.import_csv(path, campaign="c1", settings=s, **first)  # type: ignore[arg-type]
    assert again.enqueued == 0
    with pytest.raises(CampaignConflict, match=f"another {field}"):
        api.import_csv(path, campaign="c1", settings=s, **{**first, **change})  # type: ignore[arg-type]
    assert r.hget(keys.campaign_meta("c1"), "text") == b"Hi {name}"
