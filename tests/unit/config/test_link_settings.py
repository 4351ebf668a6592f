"""SMS_LINK_BASE and SMS_LINK_TTL: validated at start, a bad value names its variable."""

from __future__ import annotations

import pytest

from config.settings import DEFAULT_LINK_TTL, load
from core.errors import ConfigError


def test_link_settings_and_their_defaults() -> None:
    assert (load({}).link_base, load({}).link_ttl) == ("", DEFAULT_LINK_TTL)
    s = load({"SMS_LINK_BASE": "https://s.example.com/", "SMS_LINK_TTL": "7d"})
    assert (s.link_base, s.link_ttl) == ("https://s.example.com", 7 * 86400)
    assert load({"SMS_LINK_BASE": "http://127.0.0.1:8000/go"}).link_base.endswith(":8000/go")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SMS_LINK_BASE": "s.example.com"}, "SMS_LINK_BASE"),
        ({"SMS_LINK_BASE": "ftp://s.example.com"}, "SMS_LINK_BASE"),
        ({"SMS_LINK_BASE": "https://s.example.com/?a=1"}, "SMS_LINK_BASE"),
        ({"SMS_LINK_BASE": "https://user@s.example.com"}, "SMS_LINK_BASE"),
        ({"SMS_LINK_BASE": "https://"}, "SMS_LINK_BASE"),
        ({"SMS_LINK_BASE": "https://s.example.com/" + "a" * 100}, "SMS_LINK_BASE"),
        ({"SMS_LINK_TTL": "30s"}, "SMS_LINK_TTL"),
        ({"SMS_LINK_TTL": "400d"}, "SMS_LINK_TTL"),
        ({"SMS_LINK_TTL": "soon"}, "SMS_LINK_TTL"),
    ],
)
def test_a_bad_link_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env)
    assert caught.value.variable == variable
