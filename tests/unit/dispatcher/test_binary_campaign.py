"""Binary campaigns at import and plan: payloads checked (file, line, column), parts counted
as core.binary counts them, carried in every batch; a gateway without binary refused, by
name, before anything is written."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from config.settings import Route, Settings
from core import keys
from core.batch import BINARY_KEY, Batch
from core.binary import Binary
from core.errors import CampaignConflict, InputError
from dispatcher import api
from dispatcher.campaign import CampaignSpec, Importer
from dispatcher.csvsource import CsvSource
from dispatcher.plan import Planner
from providers.ants import PROFILE as ANTS

ONE_PART = "0605040B8423F0" + "ab" * 133  # a port-addressing header and 133 octets: 140
TWO_PARTS = "0605040b8423f0" + "cd" * 134  # 141: 2 parts of 128 beside the header
WITH_HEADER = Binary(4, 64)
CSV = (
    "phone,payload\n"
    f"0812345601,{ONE_PART}\n"
    f"0812345602,{TWO_PARTS}\n"
    "0812345603,abc\n"  # an odd number of hex digits
    f"0812345604,00{'ef' * (134 * 25 + 1)}\n"  # an empty header, 26 parts: over ANTS's 25
    "0812345605,09 05 04\n"  # its header's length runs past the payload
)


def spec(
    text: str = "{payload}", coding: Binary = WITH_HEADER, campaign: str = "bin"
) -> CampaignSpec:
    return CampaignSpec(campaign, "Shop", text, "TH", 10, 60, profile=ANTS, binary=coding)


def source(csv: str = CSV) -> CsvSource:
    return CsvSource(io.StringIO(csv), name="c.csv")


def test_plan_counts_binary_parts_and_names_each_bad_row(store: redis.Redis) -> None:
    p = Planner(store, spec(), Settings(), "h", "c.csv").run(source())
    assert (p.encoding, p.parts, p.binary) == ("BINARY", 0, {"data_coding": 4, "esm_class": 64})
    assert {k: g.recipients for k, g in p.groups.items()} == {"TH|BINARY|1": 1, "TH|BINARY|2": 1}
    assert p.recipients_parts == 3
    assert p.rejects == [
        "line 4 [payload]: odd number of hex digits (3): two make one octet",
        "line 5 [payload]: 26 parts, over the gateway's 25",
        "line 6 [payload]: user data header length 9 (first octet) runs past the payload "
        "(2 octets after it)",
    ]
    shared = Planner(store, spec(TWO_PARTS, Binary()), Settings(), "h", "c.csv").run(source())
    assert (shared.valid, shared.parts, shared.recipients_parts) == (5, 2, 10)


def test_import_carries_canonical_payloads_and_the_coding(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []
    report = Importer(store, sent.append, spec()).run(source())
    assert (report.valid, report.invalid) == (2, 3)
    [batch] = [Batch.from_dict(b) for b in sent]
    assert batch.binary == Binary(4, 64) and batch.meta[BINARY_KEY] == Binary(4, 64).to_meta()
    assert [d.text for d in batch.destinations] == [ONE_PART.lower(), TWO_PARTS]
    assert store.hget(keys.campaign_meta("bin"), "binary") == b"data coding 4, ESM class 64"
    again = Importer(store, sent.append, spec(coding=Binary(8, 64)))
    with pytest.raises(CampaignConflict, match="another binary"):
        again.run(source())


def test_a_shared_payload_is_checked_once_naming_the_option(store: redis.Redis) -> None:
    sent: list[dict[str, Any]] = []
    Importer(store, sent.append, spec("0A 0b", Binary(), "shared")).run(source())
    assert Batch.from_dict(sent[0]).text == "0a0b"
    ucs2 = r"^c.csv \[binary\]: data coding 8 is UCS-2, two octets a character"
    with pytest.raises(InputError, match=ucs2):
        Importer(store, sent.append, spec("0a0b0c", Binary(8, 0), "odd")).run(source())
    missing = r"^c.csv:1 \[binary_column\]: no column 'hex' for the binary payloads; columns"
    with pytest.raises(InputError, match=missing):
        Importer(store, sent.append, spec("{hex}", Binary(), "no-column")).run(source())


def write(tmp_path: Path) -> Path:
    path = tmp_path / "c.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_a_gateway_without_binary_is_refused_by_name_before_anything_is_written(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path)
    s = Settings(redis_url=redis_url, sender="Shop")
    binary = api.BinaryPayload(column="payload")
    kw: dict[str, Any] = {"settings": s, "provider": "smsmanager", "binary": binary}
    why = "gateway smsmanager cannot send binary messages (a hex payload is never sent as text)"
    with pytest.raises(InputError, match=re.escape(why)) as err:
        api.plan_csv(path, **kw)
    assert err.value.field == "provider"
    with pytest.raises(InputError, match=re.escape(why)):
        api.import_csv(path, campaign="refused", **kw)
    rows = [{"phone": "0812345601", "payload": "00"}]
    with pytest.raises(InputError, match=re.escape(why)):
        api.enqueue_campaign(rows, campaign="refused", **kw)
    assert not r.exists(keys.campaign_meta("refused"))


def test_rows_routed_to_a_gateway_without_binary_are_rejected(
    r: redis.Redis, redis_url: str
) -> None:
    routes = (Route(prefix="66812345602", providers=("smsc", "ants")),)
    s = Settings(redis_url=redis_url, sender="Shop", routes=routes)
    rows = [{"phone": f"081234560{i}", "payload": "00ff"} for i in (1, 2)]
    p = api.plan_campaign(rows, settings=s, binary=api.BinaryPayload(column="payload"))
    assert (p.valid, p.invalid) == (1, 1)
    assert p.rejects == [
        "line 3 [phone]: gateway smsc cannot send binary messages (a hex payload is never sent "
        "as text); SMS_ROUTES sends 66812345602 to smsc: import it with --provider"
    ]


@pytest.mark.parametrize(
    ("binary", "extra", "field", "why"),
    [
        (api.BinaryPayload(hex="0g"), {}, "binary", "not hex: 'g' at character 2"),
        (api.BinaryPayload(), {}, "binary", "a binary campaign needs a payload"),
        (api.BinaryPayload(hex="00", column="payload"), {}, "binary", "not both"),
        (api.BinaryPayload(hex="00", data_coding=0x80), {}, "data_coding", "reserved"),
        (api.BinaryPayload(hex="00", esm_class=256), {}, "esm_class", "ESM class 256"),
        (api.BinaryPayload(hex="00"), {"text": "Hi"}, "text", "sends payloads: text cannot"),
        (api.BinaryPayload(hex="00"), {"gsm_safe": True}, "gsm_safe", "cannot go with them"),
    ],
)
def test_bad_binary_options_name_the_field(
    redis_url: str, binary: api.BinaryPayload, extra: dict[str, Any], field: str, why: str
) -> None:
    s = Settings(redis_url=redis_url, sender="Shop")
    rows = [{"phone": "0812345601", "payload": "00"}]
    with pytest.raises(InputError, match=re.escape(why)) as err:
        api.plan_campaign(rows, settings=s, binary=binary, **extra)
    assert err.value.field == field


def test_cli_plan_and_import_take_binary(
    r: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatcher import cli

    monkeypatch.setenv("REDIS_URL", redis_url)
    path = write(tmp_path)
    args = ["plan", str(path), "--binary-column", "payload", "--esm-class", "64", "--json"]
    assert cli.main([*args, "--provider", "ants"]) == 0
    p = orjson.loads(capsys.readouterr().out)
    assert (p["encoding"], p["recipients_parts"], p["binary"]["esm_class"]) == ("BINARY", 3, 64)
    assert cli.main(["plan", str(path), "--binary", "00ff", "--provider", "ants"]) == 0
    assert "binary: data coding 4, ESM class 0; one payload for all" in capsys.readouterr().err
    refused = ["import", str(path), "--campaign", "x", "--binary", "00", "--provider", "smsc"]
    monkeypatch.setenv("SMS_PROVIDER", "smsc")
    monkeypatch.setenv("SMSC_LOGIN", "user")
    monkeypatch.setenv("SMSC_PASSWORD", "secret")
    assert cli.main(refused) == 2
    assert "gateway smsc cannot send binary messages" in capsys.readouterr().err
    assert cli.main(["plan", str(path), "--text", "Hi", "--data-coding", "8"]) == 2
    assert "only with --binary or --binary-column" in capsys.readouterr().err
