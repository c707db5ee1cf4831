"""The model tests' figures: what training measures, records and gates on.

All figures come from ``train.csv`` (cross-validation, a time split) except
the held-out RMSLE, which training measures once on ``test.csv``. Each is
compared with its threshold in ``config.yml`` by ``quality_problems``; a
figure that is NaN or infinite is a problem in itself, never a pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from regression_model.config.core import AppConfig, GateConfig, ModelConfig
from regression_model.intervals import IntervalCalibration, log_interval
from regression_model.model_selection import (
    SELECTION_FILE,
    baseline_pipeline,
    cv_folds,
    median_predictor,
    rmsle,
)
from regression_model.pipeline import build_pipeline

SLICE_COLUMNS = ("Neighborhood", "SaleCondition", "MSZoning", "OverallQualBand")
QUALITY_BANDS = ((0, 4, "1-4"), (5, 5, "5"), (6, 6, "6"), (7, 7, "7"), (8, 10, "8-10"))
STALENESS_LAST_FIT_YEAR = 2008
PRICE_QUINTILES = 5


def quality_band(quality: float) -> str:
    """OverallQual grouped so that every band holds enough sales to judge."""
    for low, high, label in QUALITY_BANDS:
        if low <= quality <= high:
            return label
    return "unknown"


def out_of_fold(
    make: Callable[[], Any],
    features: pd.DataFrame,
    log_price: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[list[float], np.ndarray, list[Any]]:
    """Fold RMSLEs, out-of-fold log prices (last repeat wins) and the fitted models."""
    scores, predicted, models = [], np.full(len(log_price), np.nan), []
    for train_index, valid_index in folds:
        model = clone(make()).fit(features.iloc[train_index], log_price[train_index])
        predicted[valid_index] = model.predict(features.iloc[valid_index])
        scores.append(rmsle(log_price[valid_index], predicted[valid_index]))
        models.append(model)
    return scores, predicted, models


def slice_figures(
    frame: pd.DataFrame, error: np.ndarray, log_price: np.ndarray, min_rows: int
) -> dict[str, dict[str, dict[str, float]]]:
    """RMSLE, mean signed log error and size of every slice with ``min_rows`` rows."""
    groups = {
        "Neighborhood": frame["Neighborhood"].astype(str),
        "SaleCondition": frame["SaleCondition"].astype(str),
        "MSZoning": frame["MSZoning"].astype(str),
        "OverallQualBand": frame["OverallQual"].map(quality_band),
        "PriceQuintile": pd.Series(
            pd.qcut(log_price, PRICE_QUINTILES, labels=False) + 1, index=frame.index
        ).astype(str),
    }
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for column, labels in groups.items():
        figures[column] = {}
        for label in sorted(labels.unique()):
            mask = (labels == label).to_numpy()
            if mask.sum() >= min_rows:
                figures[column][label] = {
                    "rows": int(mask.sum()),
                    "rmsle": float(np.sqrt(np.mean(error[mask] ** 2))),
                    "bias": float(np.mean(error[mask])),
                }
    return figures


def permutation_importance(
    models: list[Pipeline],
    *,
    features: pd.DataFrame,
    log_price: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    inputs: list[str],
    seed: int,
) -> dict[str, float]:
    """Each input's mean CV RMSLE increase when its values are shuffled in the fold."""
    rng = np.random.default_rng(seed)
    increases: dict[str, list[float]] = {name: [] for name in inputs}
    for model, (_, valid_index) in zip(models, folds, strict=True):
        valid = features.iloc[valid_index]
        base = rmsle(log_price[valid_index], model.predict(valid))
        for name in inputs:
            shuffled = valid.copy()
            shuffled[name] = rng.permutation(shuffled[name].to_numpy())
            worse = rmsle(log_price[valid_index], model.predict(shuffled))
            increases[name].append(worse - base)
    return {name: float(np.mean(values)) for name, values in increases.items()}


def staleness(config: ModelConfig, train: pd.DataFrame) -> dict[str, float]:
    """Fit on sales up to 2008, score the 2009-2010 sales of the training split."""
    target = config.target
    early = train[train["YrSold"] <= STALENESS_LAST_FIT_YEAR]
    late = train[train["YrSold"] > STALENESS_LAST_FIT_YEAR]
    model = build_pipeline(config).fit(
        early.drop(columns=[target]), np.log(early[target].to_numpy(dtype=float))
    )
    predicted = model.predict(late.drop(columns=[target]))
    return {
        "fit_rows": len(early),
        "scored_rows": len(late),
        "rmsle": rmsle(np.log(late[target].to_numpy(dtype=float)), predicted),
    }


def selection_figures(config: ModelConfig, path: Path = SELECTION_FILE) -> dict[str, Any]:
    """The configured blend and the best candidate in the recorded search."""
    record = json.loads(path.read_text())
    exportable = [
        row
        for row in record["candidates"]
        if row["family"] in {"linear", "trees", "blend"}
    ]
    best = min(exportable, key=lambda row: row["cv_rmsle_mean"])
    configured = record["configured"]
    expected = {
        "alpha": config.alpha,
        "blend_linear_weight": config.blend_linear_weight,
        **{
            key: getattr(config, key)
            for key in ModelConfig.model_fields
            if key.startswith("trees_")
        },
    }
    stale = sorted(
        key for key, value in expected.items() if configured["params"].get(key) != value
    )
    return {
        "best": best["name"],
        "best_cv_rmsle": best["cv_rmsle_mean"],
        "best_cv_std": best["cv_rmsle_std"],
        "configured_cv_rmsle": configured["cv_rmsle_mean"],
        "stds_from_best": (configured["cv_rmsle_mean"] - best["cv_rmsle_mean"])
        / best["cv_rmsle_std"],
        "params_not_in_search": stale,
    }


@dataclass(frozen=True)
class OutOfFold:
    """The configured model's cross-validation on ``train.csv``.

    Computed once: the model tests judge it and the intervals calibrate on it.
    """

    folds: list[tuple[np.ndarray, np.ndarray]]
    scores: list[float]
    log_price: np.ndarray
    predicted: np.ndarray
    models: list[Pipeline]


def model_out_of_fold(config: ModelConfig, train: pd.DataFrame) -> OutOfFold:
    """Fold RMSLEs and out-of-fold log prices of the configured pipeline."""
    features = train.drop(columns=[config.target])
    log_price = np.log(train[config.target].to_numpy(dtype=np.float64))
    folds = cv_folds(len(train), config.cv_splits, config.cv_repeats, config.random_state)
    scores, predicted, models = out_of_fold(
        lambda: build_pipeline(config), features, log_price, folds
    )
    return OutOfFold(folds, scores, log_price, predicted, models)


def model_test_figures(
    config: AppConfig, train: pd.DataFrame, oof: OutOfFold
) -> dict[str, Any]:
    """Every figure the model tests judge, from ``train.csv`` only."""
    model = config.model
    features = train.drop(columns=[model.target])
    log_price, folds = oof.log_price, oof.folds
    baseline, _, _ = out_of_fold(baseline_pipeline, features, log_price, folds)
    median, _, _ = out_of_fold(median_predictor, features, log_price, folds)
    error = oof.predicted - log_price
    return {
        "cv": {
            "splits": model.cv_splits,
            "repeats": model.cv_repeats,
            "model": {
                "mean": float(np.mean(oof.scores)),
                "std": float(np.std(oof.scores, ddof=1)),
            },
            "baseline_3_features": {"mean": float(np.mean(baseline))},
            "median": {"mean": float(np.mean(median))},
        },
        "slices": slice_figures(train, error, log_price, config.gate.min_slice_rows),
        "staleness": staleness(model, train),
        "permutation_importance": permutation_importance(
            oof.models,
            features=features,
            log_price=log_price,
            folds=folds,
            inputs=model.features,
            seed=model.random_state,
        ),
        "selection": selection_figures(model),
    }


def interval_figures(
    calibration: IntervalCalibration,
    frame: pd.DataFrame,
    predicted_log_price: np.ndarray,
    log_price: np.ndarray,
    min_rows: int,
) -> dict[str, Any]:
    """Held-out interval coverage and width, overall and per slice.

    Slices are neighbourhoods and quintiles of the actual price with at
    least ``min_rows`` rows; width is relative to the predicted price.
    """
    low, high = log_interval(calibration, predicted_log_price)
    covered = (low <= log_price) & (log_price <= high)
    relative_width = np.exp(high - predicted_log_price) - np.exp(
        low - predicted_log_price
    )
    groups = {
        "Neighborhood": frame["Neighborhood"].astype(str).to_numpy(),
        "PriceQuintile": (pd.qcut(log_price, PRICE_QUINTILES, labels=False) + 1)
        .astype(int)
        .astype(str),
    }
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for column, labels in groups.items():
        slices[column] = {}
        for label in sorted(set(labels)):
            mask = labels == label
            if mask.sum() >= min_rows:
                slices[column][label] = {
                    "rows": int(mask.sum()),
                    "coverage": float(covered[mask].mean()),
                    "mean_relative_width": float(relative_width[mask].mean()),
                }
    return {
        "nominal": calibration.coverage,
        "rows": len(covered),
        "coverage": float(covered.mean()),
        "mean_width": float(np.mean(np.exp(high) - np.exp(low))),
        "mean_relative_width": float(relative_width.mean()),
        "slices": slices,
    }


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def _cv_problems(figures: dict[str, Any], gate: GateConfig) -> list[str]:
    cv = figures["cv"]
    model = cv["model"]["mean"]
    problems = []
    for name, margin in (
        ("baseline_3_features", gate.min_cv_margin_over_baseline),
        ("median", gate.min_cv_margin_over_median),
    ):
        if not model <= cv[name]["mean"] - margin:
            problems.append(f"CV RMSLE {model:.4f} does not beat {name} by {margin}")
    test = figures.get("test")
    if test is not None and not test["rmsle"] <= gate.max_test_rmsle:
        problems.append(f"held-out RMSLE {test['rmsle']:.4f} > {gate.max_test_rmsle}")
    return problems


def _slice_problems(figures: dict[str, Any], gate: GateConfig) -> list[str]:
    problems = []
    for column in SLICE_COLUMNS:
        for label, figure in figures["slices"][column].items():
            if not figure["rmsle"] <= gate.max_slice_rmsle:
                problems.append(
                    f"{column}={label}: RMSLE {figure['rmsle']:.4f} "
                    f"> {gate.max_slice_rmsle}"
                )
    for column in ("Neighborhood", "PriceQuintile"):
        for label, figure in figures["slices"][column].items():
            if not abs(figure["bias"]) <= gate.max_abs_slice_bias:
                problems.append(
                    f"{column}={label}: bias {figure['bias']:+.4f} "
                    f"beyond {gate.max_abs_slice_bias}"
                )
    return problems


def _evidence_problems(figures: dict[str, Any], gate: GateConfig) -> list[str]:
    problems = []
    staleness = figures["staleness"]["rmsle"]
    if not staleness <= gate.max_staleness_rmsle:
        problems.append(f"staleness RMSLE {staleness:.4f} > {gate.max_staleness_rmsle}")
    for name, increase in figures["permutation_importance"].items():
        if not increase > gate.min_feature_importance:
            problems.append(
                f"input {name} does not earn its place: "
                f"permutation increase {increase:.5f}"
            )
    selection = figures["selection"]
    if selection["params_not_in_search"]:
        problems.append(
            f"configured {selection['params_not_in_search']} differ from "
            "model_selection.json"
        )
    if not selection["stds_from_best"] <= gate.max_cv_std_from_best:
        problems.append(
            f"configured blend is {selection['stds_from_best']:.2f} fold std "
            "from the best candidate"
        )
    return problems


def _interval_problems(figures: dict[str, Any], gate: GateConfig) -> list[str]:
    intervals = figures.get("intervals")
    if intervals is None:
        return []
    problems = []
    gap = intervals["coverage"] - intervals["nominal"]
    if not abs(gap) <= gate.max_interval_coverage_gap:
        problems.append(
            f"held-out interval coverage {intervals['coverage']:.3f} is "
            f"{gap:+.3f} from nominal {intervals['nominal']}"
        )
    for column, slices in intervals["slices"].items():
        for label, figure in slices.items():
            if not figure["coverage"] >= gate.min_slice_interval_coverage:
                problems.append(
                    f"{column}={label}: interval coverage {figure['coverage']:.3f} "
                    f"< {gate.min_slice_interval_coverage}"
                )
    return problems


def quality_problems(figures: dict[str, Any], gate: GateConfig) -> list[str]:
    """Every model test that fails, in words; empty when the model may ship.

    Each comparison is written so that NaN fails it, and any non-finite
    figure is a problem of its own.
    """
    problems = []
    if not all(math.isfinite(n) for n in _numbers(figures)):
        problems.append("a model-test figure is NaN or infinite")
    return [
        *problems,
        *_interval_problems(figures, gate),
        *_cv_problems(figures, gate),
        *_slice_problems(figures, gate),
        *_evidence_problems(figures, gate),
    ]
