"""What a worker sends the prediction log's writer: one JSON line per answered batch.

The worker's share of the metrics and the log is encoding each answered
batch (``encode_batch``, one pydantic-core call) and a ``send``; the
writer (``app.log_sidecar``) decodes it (``decode_batch``), counts it in
the per-row metrics (``app.batch_metrics``) and, if it is logged, inserts
its rows (``DecodedBatch.logged_rows``). A line is a JSON array: request
id, answer time (Unix seconds), model version, whether it is logged, each
row's feature values (``None`` for a row that is not an object), prices,
intervals (or ``None``), errors and imputed fields as the result lists
them. JSON never holds a raw newline, so lines frame the stream; a
``flush`` line (``flush_line``) asks the writer to write everything sent
before it and answer on the same socket.
This module imports neither SQLAlchemy nor the model, so the worker
holds neither for the log's sake.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_json

# ``flush N`` on a line: write what came before it, then answer ``flushed N``.
FLUSH_PREFIX = b"flush "
FLUSHED_PREFIX = b"flushed "
# Names the writer's socket to the workers (``Settings.prediction_log_socket``).
SOCKET_ENV = "PREDICTION_LOG_SOCKET"


def fresh_socket_path() -> Path:
    """Where a new writer listens: a socket in a private temporary folder of its own
    (whoever asked removes the folder)."""
    return Path(tempfile.mkdtemp(prefix="house-prices-log-")) / "writer.sock"


# One logged row as the writer inserts it: its index in the batch, features,
# price, interval's bounds, errors and imputed fields (JSON values as text).
LoggedRow = tuple[
    int, str | None, float | None, float | None, float | None, str | None, str | None
]


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One answered batch as a worker sent it: what its rows share, then each list."""

    request_id: str
    answered_at: datetime
    model_version: str
    logged: bool
    features: list[dict[str, Any] | None]
    prices: list[float | None]
    intervals: list[list[float] | None] | None
    errors: list[dict[str, Any]]
    imputed: list[dict[str, Any]]

    def logged_rows(self) -> list[LoggedRow]:
        """The batch's rows as the log's table takes them, in the order sent."""
        errors_by_row: dict[int, list[dict[str, str]]] = {}
        for error in self.errors:
            errors_by_row.setdefault(error["row"], []).append(
                {"field": error["field"], "message": error["message"]}
            )
        imputed_by_row = {entry["row"]: entry["fields"] for entry in self.imputed}
        intervals = self.intervals or [None] * len(self.prices)
        rows: list[LoggedRow] = []
        for index, (values, price, interval) in enumerate(
            zip(self.features, self.prices, intervals, strict=True)
        ):
            lower, upper = interval if interval is not None else (None, None)
            rows.append(
                (
                    index,
                    json_text(values),
                    price,
                    lower,
                    upper,
                    json_text(errors_by_row.get(index)),
                    json_text(imputed_by_row.get(index)),
                )
            )
        return rows


def encode_batch(
    request_id: str,
    answered_at: float,
    features: Sequence[dict[str, Any] | None],
    result: Any,
    *,
    logged: bool = True,
) -> bytes:
    """One answered batch (a ``PredictionResult``) as a line for the writer.

    ``logged`` False: the writer counts it in the metrics, and does not log it
    (the log is off, or sampling left the batch out).
    """
    message = [
        request_id,
        answered_at,
        result["version"],
        logged,
        features,
        result["predictions"],
        result.get("intervals"),
        result["errors"],
        result["imputed"],
    ]
    return _json_bytes(message) + b"\n"


def decode_batch(line: bytes) -> DecodedBatch:
    """The batch of one line ``encode_batch`` wrote."""
    (
        request_id,
        answered_at,
        version,
        logged,
        features,
        prices,
        intervals,
        errors,
        imputed,
    ) = from_json(line)
    if len(features) != len(prices) or (
        intervals is not None and len(intervals) != len(prices)
    ):
        raise ValueError("a batch's rows, prices and intervals differ in number")
    moment = datetime.fromtimestamp(answered_at, UTC)
    return DecodedBatch(
        request_id,
        moment,
        version,
        bool(logged),
        features,
        prices,
        intervals,
        errors,
        imputed,
    )


def flush_line(token: int) -> bytes:
    """Asks the writer to write what it holds and answer ``flushed_line(token)``."""
    return FLUSH_PREFIX + str(token).encode() + b"\n"


def flushed_line(token: int) -> bytes:
    """The writer's answer to ``flush_line(token)``."""
    return FLUSHED_PREFIX + str(token).encode() + b"\n"


def flush_token(line: bytes) -> int | None:
    """The token of a ``flush_line``, or None for any other line."""
    if not line.startswith(FLUSH_PREFIX):
        return None
    token = line[len(FLUSH_PREFIX) :].strip()
    return int(token) if token.isdigit() else None


def json_text(value: Any) -> str | None:
    """``value`` as JSON text (None stays SQL NULL); NaN and infinities as null."""
    if value is None:
        return None
    return _json_bytes(value).decode()


def _json_bytes(value: Any) -> bytes:
    """``value`` as JSON; a lone surrogate (``"\\ud800"``), which has no UTF-8 form,
    becomes ``?`` (only then is the value walked)."""
    try:
        return to_json(value, inf_nan_mode="null")
    except PydanticSerializationError:
        return to_json(_replace_surrogates(value), inf_nan_mode="null")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    if isinstance(value, dict):
        return {
            _replace_surrogates(key): _replace_surrogates(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_replace_surrogates(item) for item in value]
    return value
