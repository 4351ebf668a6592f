"""Message options at import and plan: refused with the gateway and the option named when
the gateway lacks one; carried in every batch; parts counted by a national language."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from config.settings import Settings
from core import keys
from core.batch import OPTIONS_KEY, Batch
from core.errors import CampaignConflict, InputError
from core.gsm_national import Language
from core.options import SendOptions
from dispatcher import api
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvsource import CsvSource
from dispatcher.plan import Planner
from providers.ants import PROFILE as ANTS

TR = Language("TR", single_shift=True)
TURKISH = "Sayın {name}, siparişiniz yolda. Teşekkürler, iyi günler dileriz!"  # ı ş ğ ü
CSV = "phone,name\n0812345601,Ayşe\n0812345602,Oğuz\n0812345603," + "ğ" * 75 + "\n"


def spec(options: SendOptions, text: str = TURKISH) -> CampaignSpec:
    return CampaignSpec("tr", "Shop", text, "TH", 10, 60, profile=ANTS, options=options)


def test_plan_counts_parts_by_the_language(store: redis.Redis) -> None:
    """The text is UCS-2 by the default tables; by the Turkish single shift it is GSM-7,
    its national letters two septets each, 155 septets in one part (149 a part beyond)."""
    source = CsvSource(io.StringIO(CSV), name="c.csv")
    plain = Planner(store, spec(SendOptions()), Settings(), "h", "c.csv").run(source)
    assert (plain.encoding, plain.not_gsm) == ("UCS2", "ış")
    source = CsvSource(io.StringIO(CSV), name="c.csv")
    p = Planner(store, spec(SendOptions(language=TR)), Settings(), "h", "c.csv").run(source)
    assert (p.encoding, p.parts, p.not_gsm) == ("GSM7", 1, "")
    assert p.options == "language TR (single shift)"
    # Ayşe and Oğuz fit one part; 75 ğ (150 septets) and the text (65 + 4) do not
    assert {k: g.recipients for k, g in p.groups.items()} == {"TH|GSM7|1": 2, "TH|GSM7|2": 1}


def test_import_carries_the_options_and_checks_length_by_the_language(
    store: redis.Redis,
) -> None:
    sent: list[dict[str, Any]] = []
    long_row = "0812345604," + "ğ" * 1880 + "\n"  # 3,760 septets: 25 parts by default, 26 so
    source = CsvSource(io.StringIO(CSV + long_row), name="c.csv")
    options = SendOptions(flash=True, language=TR, intermediate_reports=True)
    report = Importer(store, sent.append, spec(options, text="{name}")).run(source)
    assert (report.valid, report.invalid) == (3, 1)
    assert report.rejects == ["line 5 [text]: text longer than 25 parts or 4000 bytes"]
    batch = Batch.from_dict(sent[0])
    assert SendOptions.from_meta(batch.meta[OPTIONS_KEY]) == options
    meta = keys.campaign_meta("tr")
    assert SendOptions.from_stored(store.hget(meta, "options")) == options


def test_a_reimport_with_other_options_is_refused(store: redis.Redis) -> None:
    Importer(store, lambda b: None, spec(SendOptions(flash=True))).run(
        CsvSource(io.StringIO(CSV), name="c.csv")
    )
    again = Importer(store, lambda b: None, spec(SendOptions()))
    with pytest.raises(CampaignConflict, match="another options"):
        again.run(CsvSource(io.StringIO(CSV), name="c.csv"))


@pytest.mark.parametrize(
    ("provider", "options", "why"),
    [
        ("smsmanager", SendOptions(flash=True), "gateway smsmanager does not take flash SMS"),
        (
            "smsc",
            SendOptions(language=TR),
            "gateway smsc does not take national language TR (single shift)",
        ),
        (
            "smsc",
            SendOptions(intermediate_reports=True),
            "gateway smsc does not take intermediate reports",
        ),
    ],
)
def test_a_gateway_lacking_an_option_is_refused_at_import_and_plan(
    r: redis.Redis, redis_url: str, tmp_path: Path, provider: str, options: SendOptions, why: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    s = Settings(redis_url=redis_url, sender="Shop")
    kw: dict[str, Any] = {"text": "Hi", "settings": s, "provider": provider, "options": options}
    with pytest.raises(InputError, match=re.escape(why)) as err:
        api.plan_csv(path, **kw)
    assert err.value.field == "options"
    with pytest.raises(InputError, match=re.escape(why)):
        api.import_csv(path, campaign="refused", **kw)
    with pytest.raises(InputError, match=re.escape(why)):
        api.enqueue_campaign([{"phone": "0812345601"}], campaign="refused", **kw)
    assert not r.exists(keys.campaign_meta("refused"))


def test_cli_plan_takes_the_options(
    r: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatcher import cli

    monkeypatch.setenv("REDIS_URL", redis_url)
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    args = ["plan", str(path), "--text", TURKISH, "--provider", "ants", "--json"]
    assert cli.main([*args, "--language", "tr", "--single-shift", "--flash"]) == 0
    p = orjson.loads(capsys.readouterr().out)
    assert (p["encoding"], p["parts"], p["options"]) == (
        "GSM7",
        1,
        "flash, language TR (single shift)",
    )
    assert cli.main([*args, "--language", "ES", "--locking-shift"]) == 2
    assert "Spanish has no locking shift table" in capsys.readouterr().err
    smsmanager = ["plan", str(path), "--text", "Hi", "--provider", "smsmanager"]
    assert cli.main([*smsmanager, "--intermediate-reports"]) == 2
    assert "gateway smsmanager does not take intermediate reports" in capsys.readouterr().err
    assert cli.main([*smsmanager, "--translit", "CYRILLIC"]) == 2
    assert "does not take transliteration CYRILLIC" in capsys.readouterr().err


def test_status_names_the_options(store: redis.Redis) -> None:
    from dispatcher import control

    options = SendOptions(flash=True, intermediate_reports=True)
    Importer(store, lambda b: None, spec(options)).run(CsvSource(io.StringIO(CSV), name="c.csv"))
    assert control.status(store, "tr")["options"] == "flash, intermediate reports"
