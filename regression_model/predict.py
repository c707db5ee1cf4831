"""``make_prediction``: validate every row, score the good ones, explain the rest.

The contract: one prediction slot per input row, in input order. A row with
a problem gets ``None`` and one error per offending field; it never fails
the other rows, and no input makes this function raise. The model is loaded
on first use (not at import) and only after its hashes are verified.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np

from regression_model.explain import Explainer
from regression_model.intervals import IntervalCalibration, log_interval
from regression_model.model import LoadedModel, load_model
from regression_model.processing.validation import (
    ROW_LEVEL,
    RowError,
    ValidatedRows,
    rows_from_input,
    validate_rows,
)
from regression_model.scoring import Scorer

if TYPE_CHECKING:
    import pandas as pd


# A validated row whose price overflows float64 gets this error instead.
UNPRICEABLE_MESSAGE = (
    "the inputs lie so far outside the training data "
    "that the price is not a finite number"
)


class ImputedFields(TypedDict):
    """The fields of one row that were missing and got a learned statistic."""

    row: int
    fields: list[str]


class Contribution(TypedDict):
    """One feature's share of a row's log-price, and the factor it puts on the price."""

    feature: str
    log_contribution: float
    factor: float


class RowExplanation(TypedDict):
    """One priced row: ``base_log_price + sum(log_contribution)`` is its log-price."""

    row: int
    base_log_price: float
    contributions: list[Contribution]


class PredictionResult(TypedDict):
    """What ``make_prediction`` returns.

    ``intervals`` (one ``[low, high]`` in dollars per priced row, ``None``
    elsewhere) and their nominal ``interval_coverage`` are present when the
    model carries an interval calibration. ``explanations`` (one per priced
    row, in row order) is present when asked for.
    """

    predictions: list[float | None]
    version: str
    errors: list[RowError]
    imputed: list[ImputedFields]
    intervals: NotRequired[list[list[float] | None]]
    interval_coverage: NotRequired[float]
    explanations: NotRequired[list[RowExplanation]]


def make_prediction(
    *,
    input_data: pd.DataFrame | Iterable[Any],
    model: LoadedModel | None = None,
    explain: bool = False,
) -> PredictionResult:
    """Predict a sale price for every valid row and a named error for every bad one.

    ``model`` defaults to ``load_model()``, the exported graph, as served.
    ``explain`` adds each priced row's exact additive explanation (see
    ``regression_model.explain``); it raises ``ValueError`` for a model that
    offers none, whatever the input.
    """
    model = model or load_model()
    scorer, version = model.scorer, model.version
    explainer = _explainer(model) if explain else None
    try:
        rows = rows_from_input(input_data)
    except TypeError as error:
        failed = PredictionResult(
            predictions=[],
            version=version,
            errors=[RowError(row=-1, field=ROW_LEVEL, message=str(error))],
            imputed=[],
        )
        if explainer is not None:
            failed["explanations"] = []
        return failed
    required = model.metadata.config.required_features
    validated = validate_rows(rows, scorer.features, required)
    predictions: list[float | None] = [None] * len(rows)
    errors = validated.errors
    valid = validated.valid_indices
    log_prices = np.empty(0)
    design = np.empty((0, 0))
    if valid and explainer is not None:
        log_prices, design = _log_prices_and_design(scorer, validated)
    elif valid:
        log_prices = _log_prices(scorer, validated)
    if valid:
        with np.errstate(over="ignore"):
            prices = np.exp(log_prices)
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
    result = PredictionResult(
        predictions=predictions, version=version, errors=errors, imputed=imputed
    )
    calibration = model.metadata.intervals
    if calibration is not None:
        result["intervals"] = _intervals(calibration, predictions, valid, log_prices)
        result["interval_coverage"] = calibration.coverage
    if explainer is not None:
        result["explanations"] = _explanations(explainer, predictions, valid, design)
    return result


def _explainer(model: LoadedModel) -> Explainer:
    """The model's explainer; ``ValueError`` if it has none or hides the design."""
    offers = hasattr(model.scorer, "predict_log_price_and_design_columns")
    if model.explainer is None or not offers:
        raise ValueError(
            f"model {model.version} ({model.backend} backend) offers no explanations"
        )
    return model.explainer


def _log_prices_and_design(
    scorer: Scorer, validated: ValidatedRows
) -> tuple[np.ndarray, np.ndarray]:
    """Log-prices and the design ``[columns, rows]`` of the valid rows, in one run."""
    log_prices, design = scorer.predict_log_price_and_design_columns(  # type: ignore[attr-defined]
        validated.columns
    )
    return np.asarray(log_prices), np.asarray(design)


def _explanations(
    explainer: Explainer,
    predictions: list[float | None],
    valid: list[int],
    design: np.ndarray,
) -> list[RowExplanation]:
    """Each priced row's base and contributions, computed for all of them at once."""
    priced = [k for k, index in enumerate(valid) if predictions[index] is not None]
    if not priced:
        return []
    explained = explainer.explain(design[:, priced])
    names = explainer.features
    bases = explained.base.tolist()
    logs = explained.contributions.tolist()
    factors = np.exp(explained.contributions).tolist()
    # Dict displays, not TypedDict calls: the same dicts without a keyword call each.
    return [
        {
            "row": valid[k],
            "base_log_price": base,
            "contributions": [
                {"feature": name, "log_contribution": value, "factor": factor}
                for name, value, factor in zip(names, values, row_factors, strict=True)
            ],
        }
        for k, base, values, row_factors in zip(priced, bases, logs, factors, strict=True)
    ]


def _intervals(
    calibration: IntervalCalibration,
    predictions: list[float | None],
    valid: list[int],
    log_prices: np.ndarray,
) -> list[list[float] | None]:
    """Each priced row's ``[low, high]`` in dollars, from one vectorised lookup."""
    slots: list[list[float] | None] = [None] * len(predictions)
    low, high = log_interval(calibration, log_prices)
    bounds_array = np.empty((len(log_prices), 2))
    bounds_array[:, 0] = low
    bounds_array[:, 1] = high
    with np.errstate(over="ignore"):
        bounds = np.exp(bounds_array, out=bounds_array).tolist()
    for index, bound in zip(valid, bounds, strict=True):
        if predictions[index] is not None and math.isfinite(bound[1]):
            slots[index] = bound
    return slots


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
                RowError(row=index, field=ROW_LEVEL, message=UNPRICEABLE_MESSAGE)
            )
    if not overflowed:
        return errors
    return sorted([*errors, *overflowed], key=lambda error: error["row"])
