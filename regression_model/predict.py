"""``make_prediction``: validate every row, score the good ones, explain the rest.

The contract: one prediction slot per input row, in input order. A row with
a problem gets ``None`` and one error per offending field; it never fails
the other rows, and no input makes this function raise. The model is loaded
on first use (not at import) and only after its hash is verified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np

from regression_model.config.core import package_version, packaged_config
from regression_model.processing.artifacts import (
    ArtifactIntegrityError,
    ArtifactPaths,
    load_pipeline,
    verify_artifact,
)
from regression_model.processing.validation import (
    ROW_LEVEL,
    RowError,
    ValidatedRows,
    rows_from_input,
    validate_rows,
)
from regression_model.scoring import OnnxScorer, PipelineScorer, Scorer

if TYPE_CHECKING:
    import pandas as pd


class ImputedFields(TypedDict):
    """The fields of one row that were missing and got a learned statistic."""

    row: int
    fields: list[str]


class PredictionResult(TypedDict):
    """What ``make_prediction`` returns."""

    predictions: list[float | None]
    version: str
    errors: list[RowError]
    imputed: list[ImputedFields]


@lru_cache(maxsize=1)
def default_artifact() -> tuple[ArtifactPaths, dict[str, Any]]:
    """The packaged artifact's paths and verified metadata."""
    config = packaged_config()
    paths = ArtifactPaths.for_version(config.app.pipeline_save_file, package_version())
    return paths, verify_artifact(paths)


ScorerBackend = Literal["pipeline", "onnx"]
ONNX_SHA256_KEY = "onnx_sha256"


def verified_onnx(paths: ArtifactPaths, metadata: Mapping[str, Any]) -> bytes:
    """The exported graph's bytes, only if they hash to what training recorded.

    A graph runs no code, but a swapped or truncated one would price houses
    wrongly without a sound; the bytes checked are the bytes loaded.
    """
    expected = metadata.get(ONNX_SHA256_KEY)
    if expected is None:
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} records no {ONNX_SHA256_KEY}: "
            "retrain to export the ONNX graph (tox -e train)"
        )
    if not paths.onnx.is_file():
        raise ArtifactIntegrityError(f"exported graph {paths.onnx} is missing")
    graph = paths.onnx.read_bytes()
    actual = hashlib.sha256(graph).hexdigest()
    if actual != expected:
        raise ArtifactIntegrityError(
            f"exported graph {paths.onnx} has sha256 {actual}, but its metadata "
            f"records {expected}: refusing to load a tampered or truncated graph"
        )
    return graph


def load_onnx_scorer(paths: ArtifactPaths, metadata: Mapping[str, Any]) -> OnnxScorer:
    """The exported graph as a scorer, after its hash is verified."""
    return OnnxScorer(verified_onnx(paths, metadata))


@lru_cache(maxsize=2)
def load_scorer(backend: ScorerBackend = "pipeline") -> Scorer:
    """The packaged model as a scorer of the given backend, loaded once, on first use.

    ``pipeline`` unpickles the fitted scikit-learn pipeline (the reference);
    ``onnx`` runs the exported graph, with no pickle and no pandas.
    """
    paths, metadata = default_artifact()
    if backend == "pipeline":
        return PipelineScorer(load_pipeline(paths))
    if backend == "onnx":
        return load_onnx_scorer(paths, metadata)
    raise ValueError(f"unknown scorer backend {backend!r}; use 'pipeline' or 'onnx'")


def default_scorer() -> Scorer:
    """The scorer ``make_prediction`` uses when none is given."""
    return load_scorer("pipeline")


def model_version() -> str:
    """The version recorded in the packaged artifact's metadata."""
    _, metadata = default_artifact()
    return str(metadata["version"])


def make_prediction(
    *,
    input_data: pd.DataFrame | Iterable[Any],
    scorer: Scorer | None = None,
    version: str | None = None,
) -> PredictionResult:
    """Predict a sale price for every valid row and a named error for every bad one."""
    scorer = scorer or default_scorer()
    version = version or model_version()
    try:
        rows = rows_from_input(input_data)
    except TypeError as error:
        return PredictionResult(
            predictions=[],
            version=version,
            errors=[RowError(row=-1, field=ROW_LEVEL, message=str(error))],
            imputed=[],
        )
    config = packaged_config().model
    validated = validate_rows(rows, scorer.features, config.required_features)
    predictions: list[float | None] = [None] * len(rows)
    errors = validated.errors
    valid = validated.valid_indices
    if valid:
        with np.errstate(over="ignore"):
            prices = np.exp(_log_prices(scorer, validated))
        finite = np.isfinite(prices)
        if len(valid) == len(rows) and finite.all():
            predictions = prices.tolist()
        else:
            errors = _place(predictions, valid, prices.tolist(), finite.tolist(), errors)
    imputed: list[ImputedFields] = [
        {"row": index, "fields": fields}
        for index, fields in enumerate(validated.imputed)
        if fields and predictions[index] is not None
    ]
    return PredictionResult(
        predictions=predictions, version=version, errors=errors, imputed=imputed
    )


def _log_prices(scorer: Scorer, validated: ValidatedRows) -> np.ndarray:
    """The scorer's log-prices for the valid rows: from columns if it takes them."""
    by_columns = getattr(scorer, "predict_log_price_columns", None)
    if by_columns is not None:
        return np.asarray(by_columns(validated.columns))
    return scorer.predict_log_price(validated.valid_records())


def _place(
    predictions: list[float | None],
    valid: list[int],
    prices: list[float],
    finite: list[bool],
    errors: list[RowError],
) -> list[RowError]:
    """Put each finite price in its row's slot; a non-finite one is that row's error.

    Returns all errors, in row order (``errors`` already is).
    """
    overflowed = []
    for index, price, is_finite in zip(valid, prices, finite, strict=True):
        if is_finite:
            predictions[index] = price
        else:
            overflowed.append(
                RowError(
                    row=index,
                    field=ROW_LEVEL,
                    message="the inputs lie so far outside the training data "
                    "that the price is not a finite number",
                )
            )
    if not overflowed:
        return errors
    return sorted([*errors, *overflowed], key=lambda error: error["row"])
