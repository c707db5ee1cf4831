"""Settings: safe defaults, read from the environment, bad values refused at start-up."""

from __future__ import annotations

from typing import get_args

import pytest
from app import config
from app.config import DEFAULT_MAX_BODY_BYTES, Settings
from pydantic import ValidationError

import regression_model


def test_defaults_are_closed_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no service variables in the environment
    for name in (
        "CORS_ORIGINS",
        "API_KEYS",
        "MAX_ROWS",
        "MAX_BODY_BYTES",
        "BODY_TIMEOUT_SECONDS",
        "SCORER_BACKEND",
    ):
        monkeypatch.delenv(name, raising=False)
    # When settings are read
    settings = Settings()
    # Then CORS is closed and the limits are the documented ones
    assert settings.cors_origins == []
    assert settings.api_keys == []
    assert settings.body_timeout_seconds == 30
    assert settings.max_rows == 10_000
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 20 * 1024 * 1024
    assert settings.scorer_backend == "onnx"
    assert (settings.log_level, settings.log_format) == ("INFO", "text")


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MAX_ROWS", "5")
    monkeypatch.setenv("MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("SCORER_BACKEND", "pipeline")

    settings = Settings()

    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert (settings.max_rows, settings.max_body_bytes) == (5, 1000)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    assert settings.scorer_backend == "pipeline"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_ROWS", "0"),
        ("MAX_ROWS", "many"),
        ("MAX_BODY_BYTES", "-1"),
        ("BODY_TIMEOUT_SECONDS", "0"),
        ("BODY_TIMEOUT_SECONDS", "inf"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("SCORER_BACKEND", "torch"),
    ],
)
def test_bad_values_fail_with_the_variable_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_the_scorer_backends_are_the_model_packages() -> None:
    # Given the settings' own spelling of the backends (so reading settings
    # loads no model code) and the model package's
    # Then they name the same backends
    assert set(get_args(config.ScorerBackend)) == set(
        get_args(regression_model.ScorerBackend)
    )
