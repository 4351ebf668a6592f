"""Settings: every bad variable is named; secrets never show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import load
from core.errors import ConfigError

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"SMS_BATCH_SIZE": "0"}, "SMS_BATCH_SIZE"),
        ({"SMS_BATCH_SIZE": "ten"}, "SMS_BATCH_SIZE"),
        ({"SMS_SENDER": "Too Long Sender"}, "SMS_SENDER"),
        ({"SMS_REGION": "XX"}, "SMS_REGION"),
        ({"SMS_VALIDITY_MINUTES": "3000"}, "SMS_VALIDITY_MINUTES"),
        ({"ANTS_USERNAME": "u"}, "ANTS_PASSWORD"),
        ({"SMS_HTTP_TIMEOUT": "-1"}, "SMS_HTTP_TIMEOUT"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(env)
    assert e.value.variable == variable and variable in str(e.value)


def test_secrets_are_redacted() -> None:
    s = load({"ANTS_USERNAME": "Aladdin", "ANTS_PASSWORD": "opensesame"})
    assert s.redacted()["ants_password"] == "***"
    assert "opensesame" not in repr(s.redacted())


def test_broker_url_takes_amqp_or_redis_and_hides_its_password() -> None:
    s = load({"SMS_BROKER_URL": "amqp://guest:s3cret@127.0.0.1:5672/sms"})
    assert s.broker_url == "amqp://guest:s3cret@127.0.0.1:5672/sms"
    assert s.redacted()["broker_url"] == "amqp://guest:***@127.0.0.1:5672/sms"
    assert "s3cret" not in repr(s.redacted())
    assert load({"SMS_BROKER_URL": "redis://10.0.0.5:6379/0"}).broker_url.startswith("redis://")
    assert load({}).broker_url == ""  # the queues stay on REDIS_URL
    with pytest.raises(ConfigError) as e:
        load({"SMS_BROKER_URL": "kafka://x"})
    assert e.value.variable == "SMS_BROKER_URL"


def test_delivery_report_settings() -> None:
    from config.settings import load

    s = load(
        {
            "SMS_RESEND_TEMPORARY": "1",
            "SMS_RESEND_DELAY": "120",
            "SMS_RESEND_MAX": "3",
            "SMS_EXPIRY_GRACE": "60",
        }
    )
    assert (s.resend_temporary, s.resend_delay, s.resend_max, s.expiry_grace) == (True, 120, 3, 60)
    assert load({}).resend_temporary is False
    for name, bad in [
        ("SMS_RESEND_TEMPORARY", "maybe"),
        ("SMS_RESEND_MAX", "0"),
        ("WEBHOOK_USERNAME", "only-user"),
    ]:
        with pytest.raises(ConfigError, match=name.split("_")[0]):
            load({name: bad})


def test_a_redis_cluster_needs_rabbitmq_and_relays_events_through_outboxes() -> None:
    with pytest.raises(ConfigError) as err:
        load({"SMS_REDIS_CLUSTER": "1"})
    assert err.value.variable == "SMS_BROKER_URL"
    s = load({"SMS_REDIS_CLUSTER": "1", "SMS_BROKER_URL": "amqp://mq:5672/sms"})
    assert s.redis_cluster and s.stream_policy.outbox
    assert not load({}).stream_policy.outbox


def test_dotenv_fills_only_what_the_environment_lacks(tmp_path: Path) -> None:
    from config import read_dotenv

    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "REDIS_URL=redis://from-file:6379/0   # a comment\nSMS_RATE=10/1s\n"
        "SMS_REGION=CZ\nANTS_API_KEY=\n"
    )
    environ = {"SMS_REGION": "TH", "SMS_RATE": ""}
    taken = read_dotenv(dotenv, environ)
    assert environ["REDIS_URL"] == "redis://from-file:6379/0" and environ["SMS_RATE"] == "10/1s"
    assert environ["SMS_REGION"] == "TH"  # the real environment wins
    assert {"REDIS_URL", "SMS_RATE"} <= taken and "SMS_REGION" not in taken
    assert read_dotenv(tmp_path / "missing.env", environ) == frozenset()


def test_every_command_reads_dotenv_and_says_where_redis_url_came_from(tmp_path: Path) -> None:
    """`.env` in the working directory, as .env.example asks; the real environment wins."""
    (tmp_path / ".env").write_text("REDIS_URL=redis://app:s3cret@127.0.0.1:1/7\n")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "dispatcher.cli", "status", "c"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert "redis: redis://app:***@127.0.0.1:1/7 (REDIS_URL from .env)" in done.stderr
    assert "cannot reach Redis at redis://app:***@127.0.0.1:1/7" in done.stderr
    assert done.returncode == 2 and "s3cret" not in done.stderr
    env["REDIS_URL"] = "redis://127.0.0.1:2/0"
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert "redis: redis://127.0.0.1:2/0 (REDIS_URL from the environment)" in done.stderr


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SMS_ROUTES": "*=ants,smsc", "ANTS_API_KEY": "k"}, "SMSC_LOGIN and SMSC_PASSWORD"),
        ({"SMS_PROVIDER": "smsmanager"}, "SMSMANAGER_API_KEY"),
        ({}, "ANTS_USERNAME and ANTS_PASSWORD, or ANTS_API_KEY"),
    ],
)
def test_the_credentials_of_every_named_provider_are_required(
    env: dict[str, str], missing: str
) -> None:
    from config.settings import require_credentials
    from providers import registry

    settings = load(env)
    with pytest.raises(ConfigError) as e:
        require_credentials(settings, lambda name: registry.get(name).configured(settings))
    assert missing in str(e.value)
    good = load(
        {
            **env,
            "ANTS_API_KEY": "k",
            "SMSC_LOGIN": "u",
            "SMSC_PASSWORD": "p",
            "SMSMANAGER_API_KEY": "k",
        }
    )
    require_credentials(good, lambda name: registry.get(name).configured(good))
    with pytest.raises(ConfigError, match=r"SMSC_LOGIN and SMSC_PASSWORD.*--provider names smsc"):
        require_credentials(
            load({"ANTS_API_KEY": "k"}),
            lambda name: name != "smsc",
            ["smsc"],
        )
