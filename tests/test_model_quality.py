"""Model tests: the packaged model's recorded figures hold against config.yml.

Training measures every figure (``evaluation.model_test_figures``) and refuses
to save a model that fails one; these tests read the figures recorded in the
packaged metadata, so they hold on any machine that trained it, with no
assumption that two machines train bit-identical models.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from regression_model.config.core import AppConfig
from regression_model.evaluation import SLICE_COLUMNS, quality_problems
from regression_model.processing.artifacts import ModelMetadata


@pytest.fixture(scope="module")
def figures(packaged_metadata: ModelMetadata) -> dict[str, Any]:
    assert packaged_metadata.model_tests is not None
    return packaged_metadata.model_tests.figures


def test_the_recorded_thresholds_are_the_configured_ones(
    packaged_metadata: ModelMetadata, config: AppConfig
) -> None:
    assert packaged_metadata.model_tests is not None
    assert packaged_metadata.model_tests.thresholds == config.gate


def test_the_model_beats_the_baseline_and_the_median_in_cv_by_a_margin(
    figures: dict[str, Any], config: AppConfig
) -> None:
    cv = figures["cv"]
    model = cv["model"]["mean"]
    assert (
        model
        <= cv["baseline_3_features"]["mean"] - config.gate.min_cv_margin_over_baseline
    )
    assert model <= cv["median"]["mean"] - config.gate.min_cv_margin_over_median


def test_held_out_rmsle_meets_the_tightened_gate(
    packaged_metadata: ModelMetadata, config: AppConfig
) -> None:
    assert packaged_metadata.metrics.test.rmsle <= config.gate.max_test_rmsle


@pytest.mark.parametrize("column", SLICE_COLUMNS)
def test_every_slice_with_enough_rows_stays_under_the_rmsle_limit(
    figures: dict[str, Any], config: AppConfig, column: str
) -> None:
    slices = figures["slices"][column]
    assert slices, f"no {column} slice has {config.gate.min_slice_rows} rows"
    assert all(s["rows"] >= config.gate.min_slice_rows for s in slices.values())
    worst = {
        label: s["rmsle"]
        for label, s in slices.items()
        if not s["rmsle"] <= config.gate.max_slice_rmsle
    }
    assert not worst, worst


@pytest.mark.parametrize("column", ["Neighborhood", "PriceQuintile"])
def test_mean_signed_log_error_is_bounded_per_group(
    figures: dict[str, Any], config: AppConfig, column: str
) -> None:
    biased = {
        label: s["bias"]
        for label, s in figures["slices"][column].items()
        if not abs(s["bias"]) <= config.gate.max_abs_slice_bias
    }
    assert not biased, biased


def test_staleness_is_recorded_and_bounded(
    figures: dict[str, Any], config: AppConfig
) -> None:
    staleness = figures["staleness"]
    assert staleness["fit_rows"] > 0
    assert staleness["scored_rows"] > 0
    assert staleness["rmsle"] <= config.gate.max_staleness_rmsle


def test_every_input_earns_its_place(figures: dict[str, Any], config: AppConfig) -> None:
    importance = figures["permutation_importance"]
    assert set(importance) == set(config.model.features)
    idle = {
        name: value
        for name, value in importance.items()
        if not value > config.gate.min_feature_importance
    }
    assert not idle, idle


def test_configured_hyper_parameters_are_within_cv_noise_of_the_best_searched(
    figures: dict[str, Any], config: AppConfig
) -> None:
    selection = figures["selection"]
    assert selection["params_not_in_search"] == []
    assert selection["stds_from_best"] <= config.gate.max_cv_std_from_best


def test_the_packaged_model_passes_every_model_test(
    figures: dict[str, Any], packaged_metadata: ModelMetadata, config: AppConfig
) -> None:
    recorded = {**figures, "test": packaged_metadata.metrics.test.model_dump()}
    assert quality_problems(recorded, config.gate) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_nan_or_infinite_figure_fails_the_gate(
    figures: dict[str, Any], config: AppConfig, value: float
) -> None:
    # Given the recorded figures with one slice's RMSLE not a finite number
    broken = {**figures, "slices": {**figures["slices"]}}
    label = next(iter(broken["slices"]["Neighborhood"]))
    broken["slices"]["Neighborhood"] = {
        **broken["slices"]["Neighborhood"],
        label: {**broken["slices"]["Neighborhood"][label], "rmsle": value},
    }
    # Then the gate names the problem instead of letting NaN compare as a pass
    problems = quality_problems(broken, config.gate)
    assert "a model-test figure is NaN or infinite" in problems


def test_a_nan_held_out_rmsle_fails_the_gate(
    figures: dict[str, Any], config: AppConfig
) -> None:
    # Given a target of 0 (log 0) made the held-out RMSLE NaN
    broken = {**figures, "test": {"rmse": 1.0, "rmsle": math.nan, "mae": 1.0, "r2": 0.5}}
    problems = quality_problems(broken, config.gate)
    assert "a model-test figure is NaN or infinite" in problems
    assert any("held-out RMSLE nan" in problem for problem in problems)


def test_held_out_interval_coverage_is_within_the_band_of_nominal(
    figures: dict[str, Any], config: AppConfig
) -> None:
    intervals = figures["intervals"]
    assert intervals["nominal"] == config.model.interval_coverage
    gap = intervals["coverage"] - intervals["nominal"]
    assert abs(gap) <= config.gate.max_interval_coverage_gap, intervals["coverage"]


@pytest.mark.parametrize("column", ["Neighborhood", "PriceQuintile"])
def test_no_slice_falls_below_the_interval_coverage_floor(
    figures: dict[str, Any], config: AppConfig, column: str
) -> None:
    slices = figures["intervals"]["slices"][column]
    assert slices, f"no {column} slice has {config.gate.min_slice_rows} rows"
    under = {
        label: s["coverage"]
        for label, s in slices.items()
        if not s["coverage"] >= config.gate.min_slice_interval_coverage
    }
    assert not under, under


def test_interval_coverage_outside_the_band_fails_the_gate(
    figures: dict[str, Any], config: AppConfig
) -> None:
    # Given the recorded figures with held-out coverage 5 points under nominal
    intervals = {**figures["intervals"]}
    intervals["coverage"] = intervals["nominal"] - 0.05
    # When the gate judges them
    problems = quality_problems({**figures, "intervals": intervals}, config.gate)
    # Then the drift is named
    assert any("interval coverage" in problem for problem in problems), problems
