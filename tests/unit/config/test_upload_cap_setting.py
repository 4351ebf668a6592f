"""SMS_MAX_UPLOAD_BYTES: the HTTP API's upload cap, validated like every setting."""

from __future__ import annotations

import pytest

from config import settings
from core.errors import ConfigError


def test_the_default_cap_holds_ten_million_rows() -> None:
    assert settings.load({}).max_upload_bytes == 2 * 1024**3  # 10M rows are ~240 MiB
    assert settings.load({"SMS_MAX_UPLOAD_BYTES": "4096"}).max_upload_bytes == 4096


@pytest.mark.parametrize("raw", ["lots", "-1", "10", str(2**50)])
def test_a_bad_cap_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as e:
        settings.load({"SMS_MAX_UPLOAD_BYTES": raw})
    assert e.value.variable == "SMS_MAX_UPLOAD_BYTES"
