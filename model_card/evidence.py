"""Everything the model card shows, gathered from the packaged model and the data.

Figures recorded at training (CV, slices, staleness, interval coverage) are
read from the metadata, not recomputed, so the card describes the artifact
that ships. Only what training does not keep is computed here: held-out
residuals, global effects, partial dependence and the differential report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from differential.capture import fixed_inputs
from differential.compare import (
    EDGE_CASES,
    Report,
    capture_current,
    compare,
    held_out_slices,
    previous_release,
)
from regression_model.config.core import (
    DATASET_DIR,
    TRAINED_MODEL_DIR,
    AppConfig,
    load_config,
    package_version,
)
from regression_model.intervals import log_interval
from regression_model.model import load_model, packaged_paths
from regression_model.predict import make_prediction
from regression_model.processing.artifacts import ModelMetadata, load_pipeline
from regression_model.processing.data_manager import load_dataset

SHAPE_FEATURES = 4
SHAPE_GRID = 15
SHAPE_SAMPLE_ROWS = 400
PROVENANCE_FILE = DATASET_DIR / "PROVENANCE.json"


@dataclass(frozen=True)
class HeldOut:
    """The held-out rows with actual and predicted log prices and interval bounds."""

    frame: pd.DataFrame
    log_price: np.ndarray
    predicted_log_price: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Effects:
    """Global importance per input and where it comes from (said on the card)."""

    importance: dict[str, float]
    source: str


@dataclass(frozen=True)
class Evidence:
    """The card's inputs."""

    version: str
    metadata: ModelMetadata
    provenance: dict[str, Any]
    held_out: HeldOut
    effects: Effects
    shapes: dict[str, tuple[list[float], list[float]]]
    differential: Report


def held_out(config: AppConfig, metadata: ModelMetadata, pipeline: Pipeline) -> HeldOut:
    """Score ``test.csv`` with the fitted pipeline; bounds from the stored calibration."""
    test = load_dataset(config.app.test_data_file)
    target = config.model.target
    predicted = np.asarray(pipeline.predict(test.drop(columns=[target])), dtype=float)
    if metadata.intervals is None:
        low = high = np.full(len(test), np.nan)
    else:
        low, high = log_interval(metadata.intervals, predicted)
    return HeldOut(
        frame=test,
        log_price=np.log(test[target].to_numpy(dtype=float)),
        predicted_log_price=predicted,
        low=low,
        high=high,
    )


def global_effects(metadata: ModelMetadata, rows: pd.DataFrame) -> Effects:
    """Mean |log contribution| per input from ``explain=True``, else permutation.

    Explanations are optional: a package without them rejects the keyword
    (``TypeError``), a model without them refuses (``ValueError``), and the
    card then shows the permutation importance recorded at training, saying so.
    """
    predict: Any = make_prediction
    try:
        result = predict(input_data=rows, explain=True)
    except (TypeError, ValueError):
        assert metadata.model_tests is not None
        recorded = metadata.model_tests.figures["permutation_importance"]
        return Effects(
            importance=dict(sorted(recorded.items(), key=lambda kv: -kv[1])),
            source="permutation importance recorded at training (CV RMSLE increase "
            "when the input is shuffled); per-row explanations are not available "
            "in this package version",
        )
    totals: dict[str, list[float]] = {}
    for explanation in result["explanations"]:
        for term in explanation["contributions"]:
            totals.setdefault(term["feature"], []).append(abs(term["log_contribution"]))
    importance = {name: float(np.mean(values)) for name, values in totals.items()}
    return Effects(
        importance=dict(sorted(importance.items(), key=lambda kv: -kv[1])),
        source="mean |log-price contribution| per input over the held-out rows "
        "(make_prediction(..., explain=True))",
    )


def partial_dependence(
    pipeline: Pipeline, rows: pd.DataFrame, features: list[str]
) -> dict[str, tuple[list[float], list[float]]]:
    """Mean predicted price as each numeric feature is set to each grid value.

    The grid spans the feature's 2nd to 98th percentile in ``rows``.
    """
    shapes = {}
    for name in features:
        values = rows[name].dropna().to_numpy(dtype=float)
        grid = np.unique(np.quantile(values, np.linspace(0.02, 0.98, SHAPE_GRID)))
        means = []
        for value in grid:
            changed = rows.copy()
            changed[name] = value
            means.append(float(np.mean(np.exp(pipeline.predict(changed)))))
        shapes[name] = (grid.tolist(), means)
    return shapes


def differential_report(config: AppConfig, version: str) -> Report:
    """The current artifact against the last captured release, as the gate runs it."""
    previous = json.loads(previous_release(version).read_text())
    current = capture_current(TRAINED_MODEL_DIR, version)
    test_csv = DATASET_DIR / config.app.test_data_file
    _, _, prices = fixed_inputs(test_csv, EDGE_CASES, config.model.target)
    return compare(
        previous,
        current,
        config.release,
        prices=prices,
        labels=held_out_slices(test_csv),
    )


def gather_evidence() -> Evidence:
    """Read, score and compare: everything the card needs."""
    config = load_config()
    version = package_version()
    metadata = load_model("pipeline").metadata
    pipeline = load_pipeline(packaged_paths())
    held = held_out(config, metadata, pipeline)
    features = held.frame.drop(columns=[config.model.target])
    effects = global_effects(metadata, features)
    train = load_dataset(config.app.training_data_file)
    sample = train.drop(columns=[config.model.target]).sample(
        n=min(SHAPE_SAMPLE_ROWS, len(train)), random_state=config.model.random_state
    )
    numeric = [
        name
        for name in effects.importance
        if name in sample.columns and pd.api.types.is_numeric_dtype(sample[name])
    ][:SHAPE_FEATURES]
    return Evidence(
        version=version,
        metadata=metadata,
        provenance=json.loads(PROVENANCE_FILE.read_text()),
        held_out=held,
        effects=effects,
        shapes=partial_dependence(pipeline, sample, numeric),
        differential=differential_report(config, version),
    )
