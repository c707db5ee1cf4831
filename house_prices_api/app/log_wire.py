"""What a worker sends the prediction log's writer: one JSON line per answered batch.

The worker's share of the log is encoding a batch (``encode_batch``, one
pydantic-core call) and a ``send``; the writer (``app.log_sidecar``)
decodes it (``decode_batch``) into the rows ``LogWriter`` inserts. A line
is a JSON array: request id, answer time (Unix seconds), model version,
each row's feature values (``None`` for a row that is not an object),
prices, intervals (or ``None``), errors and imputed fields as the result
lists them. JSON never holds a raw newline, so lines frame the stream; a
``flush`` line (``flush_line``) asks the writer to write everything sent
before it and answer on the same socket.
This module imports neither SQLAlchemy nor the model, so the worker
holds neither for the log's sake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_json

# ``flush N`` on a line: write what came before it, then answer ``flushed N``.
FLUSH_PREFIX = b"flush "
FLUSHED_PREFIX = b"flushed "
SOCKET_ENV = "PREDICTION_LOG_SOCKET"


@dataclass(frozen=True, slots=True)
class DecodedRow:
    """One row of a logged batch, as the writer inserts it (JSON values as text)."""

    request_id: str
    row: int
    answered_at: datetime
    model_version: str
    features: str | None
    price: float | None
    price_lower: float | None
    price_upper: float | None
    errors: str | None
    imputed: str | None


def encode_batch(
    request_id: str,
    answered_at: float,
    features: Sequence[dict[str, Any] | None],
    result: Any,
) -> bytes:
    """One answered batch (a ``PredictionResult``) as a line for the writer."""
    message = [
        request_id,
        answered_at,
        result["version"],
        features,
        result["predictions"],
        result.get("intervals"),
        result["errors"],
        result["imputed"],
    ]
    return _json_bytes(message) + b"\n"


def decode_batch(line: bytes) -> list[DecodedRow]:
    """The rows of one line ``encode_batch`` wrote, in the order they were sent."""
    (
        request_id,
        answered_at,
        version,
        features,
        prices,
        intervals,
        errors,
        imputed,
    ) = from_json(line)
    moment = datetime.fromtimestamp(answered_at, UTC)
    errors_by_row: dict[int, list[dict[str, str]]] = {}
    for error in errors:
        errors_by_row.setdefault(error["row"], []).append(
            {"field": error["field"], "message": error["message"]}
        )
    imputed_by_row = {entry["row"]: entry["fields"] for entry in imputed}
    rows = []
    for index, (values, price) in enumerate(zip(features, prices, strict=True)):
        interval = intervals[index] if intervals is not None else None
        lower, upper = interval if interval is not None else (None, None)
        rows.append(
            DecodedRow(
                request_id=request_id,
                row=index,
                answered_at=moment,
                model_version=version,
                features=json_text(values),
                price=price,
                price_lower=lower,
                price_upper=upper,
                errors=json_text(errors_by_row.get(index)),
                imputed=json_text(imputed_by_row.get(index)),
            )
        )
    return rows


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
