"""The HTTP API takes a campaign's message options (JSON fields, query flags of a CSV
upload, form fields): a dry run counts parts by the national language; a gateway that
lacks an option is a 400 problem naming the gateway and the option, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from core import keys as redis_keys
from tests.http_kit import Api
from tests.integration.conftest import write_csv
from tests.integration.test_http_api import PROBLEM, http, keys, multipart

pytestmark = pytest.mark.integration
__all__ = ["http", "keys"]  # the fixtures this module uses
TURKISH = "Sayın {name}, siparişiniz yolda."
PEOPLE = [{"phone": "0812345678", "name": "Ayşe"}, {"phone": "0812345679", "name": "Oğuz"}]


def test_json_options_plan_by_the_language_then_import(r: redis.Redis, http: Api) -> None:
    campaign = {
        "campaign": "tr",
        "text": TURKISH,
        "provider": "ants",
        "recipients": PEOPLE,
        "flash": True,
        "language": "TR",
        "single_shift": True,
        "intermediate_reports": True,
    }
    plan = http.call("POST", "/v1/campaigns?dry_run=true", campaign)
    assert plan.status == 200, plan.body
    p = plan.json()
    assert (p["encoding"], p["parts"]) == ("GSM7", 1)
    assert p["options"] == "flash, language TR (single shift), intermediate reports"
    made = http.call("POST", "/v1/campaigns", campaign)
    assert made.status == 201, made.body
    assert http.call("GET", "/v1/campaigns/tr").json()["options"] == p["options"]


def test_a_gateway_lacking_an_option_is_a_400_naming_it(
    r: redis.Redis, http: Api, tmp_path: Path
) -> None:
    js = {"campaign": "no", "text": "Hi", "provider": "smsmanager", "recipients": PEOPLE}
    ans = http.call("POST", "/v1/campaigns", {**js, "flash": True})
    assert ans.status == 400 and ans.headers["Content-Type"].startswith(PROBLEM)
    assert "gateway smsmanager does not take flash SMS" in ans.json()["detail"]
    data = write_csv(tmp_path / "c.csv", 5).read_bytes()
    q = "/v1/campaigns?campaign=no&text=Hi&provider=smsc&intermediate_reports=true"
    ans = http.call("POST", q, data, content_type="text/csv")
    assert ans.status == 400 and "does not take intermediate reports" in ans.json()["detail"]
    fields = {"campaign": "no", "text": "Hi", "provider": "ants", "language": "ES"}
    body, ctype = multipart({**fields, "locking_shift": "1"}, "c.csv", data)
    ans = http.call("POST", "/v1/campaigns", body, content_type=ctype)
    assert ans.status == 400 and "Spanish has no locking shift table" in ans.json()["detail"]
    assert not r.exists(redis_keys.campaign_meta("no"))


def test_form_fields_carry_the_options(http: Api, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "c.csv", 5).read_bytes()
    fields = {"campaign": "f", "text": "Hi", "provider": "smsc", "flash": "true"}
    body, ctype = multipart({**fields, "transliteration": "CYRILLIC"}, "c.csv", data)
    ans = http.call("POST", "/v1/campaigns?dry_run=true", body, content_type=ctype)
    assert ans.status == 200, ans.body
    assert ans.json()["options"] == "flash, transliteration CYRILLIC"
