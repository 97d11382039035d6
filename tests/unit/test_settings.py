"""Settings (config/settings.py): env names, defaults, the visibility cross-check, secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

import pytest
from pydantic import ValidationError

from confrec.config.settings import Settings


class Timeouts(TypedDict, total=False):
    """The timeout fields a test overrides, typed as ``Settings`` declares them."""

    visibility_timeout: float
    retry_deadline: float
    http_timeout: float


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("CONFREC_", "TELNYX_")):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.queue == "record_start"
    assert settings.results_stream == "confrec:results"
    assert settings.telnyx_base_url == "https://api.telnyx.com/v2"
    assert settings.broker_url == "redis://localhost:6379/0"
    assert settings.telnyx_api_key is None
    assert settings.rate_limit is None
    assert settings.rate_burst is None


@pytest.mark.parametrize(
    ("env", "value", "attr", "expected"),
    [
        (
            "TELNYX_BASE_URL",
            "http://127.0.0.1:9999/v2",
            "telnyx_base_url",
            "http://127.0.0.1:9999/v2",
        ),
        ("CONFREC_BROKER_URL", "redis://broker:6380/2", "broker_url", "redis://broker:6380/2"),
        ("CONFREC_QUEUE", "rs-high", "queue", "rs-high"),
        ("CONFREC_RESULTS_STREAM", "other:results", "results_stream", "other:results"),
        ("CONFREC_RATE_LIMIT", "12.5", "rate_limit", 12.5),
        ("CONFREC_RATE_BURST", "20", "rate_burst", 20),
        ("CONFREC_VISIBILITY_TIMEOUT", "120", "visibility_timeout", 120.0),
    ],
)
def test_env_names_are_read(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, attr: str, expected: Any
) -> None:
    monkeypatch.setenv(env, value)
    assert getattr(Settings(), attr) == expected


def test_api_key_read_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "KEYfromenv")
    key = Settings().telnyx_api_key
    assert key is not None
    assert key.get_secret_value() == "KEYfromenv"


@pytest.mark.parametrize(
    ("env", "value"), [("CONFREC_RATE_LIMIT", "0"), ("CONFREC_RATE_BURST", "-1")]
)
def test_rate_knobs_must_be_positive(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "overrides",
    [
        {"visibility_timeout": 40.0},  # == 25 + 10 + 5
        {"visibility_timeout": 39.0},
        {"retry_deadline": 31.0},  # 31 + 10 + 5 > 45
        {"http_timeout": 30.0, "visibility_timeout": 45.0},
    ],
)
def test_visibility_timeout_must_exceed_longest_job(overrides: Timeouts) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**overrides)
    assert "CONFREC_VISIBILITY_TIMEOUT" in str(info.value)


def test_visibility_timeout_cross_check_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFREC_RETRY_DEADLINE", "60")
    with pytest.raises(ValidationError, match="CONFREC_VISIBILITY_TIMEOUT"):
        Settings()
    monkeypatch.setenv("CONFREC_VISIBILITY_TIMEOUT", "75.5")
    assert Settings().visibility_timeout == 75.5


def test_visibility_timeout_just_above_longest_job_is_accepted() -> None:
    settings = Settings(visibility_timeout=40.001)
    assert settings.longest_job_s == 40.0


def test_safe_broker_url_masks_password() -> None:
    safe = Settings(broker_url="redis://:secret@host:6379/0").safe_broker_url
    assert "secret" not in safe
    assert safe.startswith("redis://")
    assert "host:6379/0" in safe


def test_api_key_not_in_repr() -> None:
    key: Any = "KEYsecret"  # a plain str, as from the env: the validator wraps it in SecretStr
    settings = Settings(telnyx_api_key=key)
    assert "KEYsecret" not in repr(settings)
    assert "KEYsecret" not in str(settings)
    assert settings.telnyx_api_key is not None
    assert settings.telnyx_api_key.get_secret_value() == "KEYsecret"


def test_state_redis_defaults_to_a_redis_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFREC_BROKER_URL", "redis://broker:6379/1")
    assert Settings().state_url == "redis://broker:6379/1"
    monkeypatch.setenv("CONFREC_REDIS_URL", "redis://state:6379/0")
    assert Settings().state_url == "redis://state:6379/0"


@pytest.mark.parametrize("redis_url", [None, ""])
def test_a_broker_that_is_not_redis_needs_a_state_redis(
    monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> None:
    monkeypatch.setenv("CONFREC_BROKER_URL", "amqp://guest:secret@rabbit:5672//")
    if redis_url is not None:
        monkeypatch.setenv("CONFREC_REDIS_URL", redis_url)
    with pytest.raises(ValidationError, match="CONFREC_REDIS_URL is required") as failure:
        Settings()
    assert "secret" not in str(failure.value)


@pytest.mark.parametrize(
    ("env", "attr"),
    [
        ("CONFREC_RATE_LIMIT", "rate_limit"),
        ("CONFREC_RATE_BURST", "rate_burst"),
        ("CONFREC_METRICS_PORT", "metrics_port"),
        ("CONFREC_REDIS_URL", "redis_url"),
        ("CONFREC_RETRY_DEADLINE", "retry_deadline"),
        ("TELNYX_BASE_URL", "telnyx_base_url"),
    ],
)
def test_an_empty_value_means_unset(monkeypatch: pytest.MonkeyPatch, env: str, attr: str) -> None:
    """``NAME=`` in an env file (``set -a; . file``) is the default, not an invalid value."""
    monkeypatch.setenv(env, "")
    assert getattr(Settings(), attr) == Settings.model_fields[attr].default


def test_the_example_env_file_sourced_as_is_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``set -a; . config/example.env`` exports: every NAME=value line, blanks too."""
    example = Path(__file__).resolve().parents[2] / "config" / "example.env"
    for line in example.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name.strip(), value)
    settings = Settings()
    assert settings.rate_limit is None and settings.redis_url is None
    assert settings.telnyx_api_key is None
