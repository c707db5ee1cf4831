"""The service's settings: one typed object, read from the environment once.

Every knob an operator may turn is a field here, so a typo or a bad value
fails at start-up with the variable's name instead of surfacing later as odd
behaviour. Variables read by the launch script rather than the app (``PORT``,
``HOST``, ``WEB_CONCURRENCY``) and by the installers (``MODEL_INDEX_URL``) are
listed in the service's README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# regression_model's ScorerBackend, spelled here so that reading the settings
# loads no model code (the arbiter and the log's writer read them, and the
# writer never scores); test_config keeps the two the same.
ScorerBackend = Literal["onnx", "pipeline"]


MEBIBYTE = 1024 * 1024
# 10,000 rows of Kaggle's full 81-column CSV rows are about 16 MB of compact JSON;
# 20 MiB lets a MAX_ROWS batch of them through, with room for indentation.
DEFAULT_MAX_BODY_BYTES = 20 * MEBIBYTE

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """What the service reads from its environment (names are case-insensitive)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    service_name: str = "house-prices-api"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, comma-separated; "
        "empty (the default) allows none.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys accepted in the X-API-Key header of /api/v1/predict, "
        "comma-separated; empty (the default) leaves the API open. Never logged.",
    )
    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = "text"
    max_rows: int = Field(10_000, ge=1, description="Most rows one request may carry.")
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1, description="Largest request body, in bytes."
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        allow_inf_nan=False,
        description="Most seconds a client may take to send a request body (408 "
        "after), so a slow or stalled upload cannot hold a connection forever.",
    )
    opentelemetry: bool = Field(
        False,
        description="FastAPI's own OpenTelemetry spans, metrics and logs for each "
        "request, sent to the process's global providers once they are configured "
        "(e.g. by opentelemetry-instrument). Off by default: FastAPI would otherwise "
        "look for configured providers on every request.",
    )
    scorer_backend: ScorerBackend = Field(
        "onnx",
        description="'onnx' (default: the exported graph, no pickle, no pandas) or "
        "'pipeline' (the fitted scikit-learn pipeline, the reference; it needs the "
        "model's training libraries, requirements/runtime.txt, which the service's "
        "own environment does not install).",
    )

    metrics: bool = Field(
        True,
        description="Serve Prometheus metrics at /metrics and record them; false "
        "removes the route and every recording step.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token /metrics requires when API_KEYS is set; with "
        "API_KEYS and no token, /metrics answers 403.",
    )
    prediction_log: Annotated[float, NoDecode] = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of requests whose rows are written to the prediction log: "
        "'all' (1, the default), 'off' (0) or a rate between 0 and 1.",
    )
    prediction_log_dir: Path = Field(
        Path("var"),
        description="Folder of the SQLite prediction log when DATABASE_URL is unset.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the prediction log (postgres:// accepted, "
        "as Heroku sets it); unset: SQLite under PREDICTION_LOG_DIR.",
    )
    prediction_log_queue_rows: int = Field(
        5_000,
        ge=1,
        description="Most rows waiting to be sent, in each worker, and waiting for "
        "the database, in the log's writer (a few seconds of traffic); more are "
        "dropped and counted, so a slow database never grows memory.",
    )
    prediction_log_socket: str | None = Field(
        None,
        description="UNIX socket of the log's writer; bin/start's arbiter starts "
        "one and sets it. Unset: the app runs the writer in a thread of its own.",
    )

    @field_validator("prediction_log", mode="before")
    @classmethod
    def _log_rate(cls, value: Any) -> Any:
        if isinstance(value, str):
            named = {"all": 1.0, "on": 1.0, "off": 0.0}
            return named.get(value.strip().lower(), value)
        return value

    @field_validator("cors_origins", "api_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value
