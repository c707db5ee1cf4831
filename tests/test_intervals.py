"""Prediction intervals: calibration, the served lookup, make_prediction's slots."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from regression_model import EXAMPLE_HOUSE, ModelMetadata, load_model, make_prediction
from regression_model.config.core import AppConfig
from regression_model.intervals import (
    calibrate_intervals,
    conformal_quantile,
    log_interval,
)


def heteroscedastic(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted log prices and actual ones whose noise grows with the price."""
    predicted = rng.uniform(11.0, 13.0, rows)
    noise = rng.normal(0.0, 0.02 + 0.1 * (predicted - 11.0), rows)
    return predicted, predicted + noise


def test_the_quantile_is_the_finite_sample_rank() -> None:
    # Given nine scores 1..9, When the 0.8 quantile is taken
    scores = np.arange(9.0, 0.0, -1.0)
    # Then it is the ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(scores, 0.8) == 8.0
    # And a coverage the rows cannot give is refused
    with pytest.raises(ValueError, match="cannot give"):
        conformal_quantile(scores, 0.95)


def test_calibrated_intervals_cover_fresh_rows_and_widen_where_noise_grows() -> None:
    # Given calibration rows whose noise grows with the price
    rng = np.random.default_rng(0)
    calibration = calibrate_intervals(*heteroscedastic(rng, 4000), coverage=0.9, bands=10)
    # When fresh rows get intervals
    predicted, actual = heteroscedastic(rng, 20000)
    low, high = log_interval(calibration, predicted)
    covered = (low <= actual) & (actual <= high)
    # Then 90% of them are covered, in the cheap half and in the dear half
    assert covered.mean() == pytest.approx(0.9, abs=0.01)
    cheap = predicted < 12.0
    assert covered[cheap].mean() == pytest.approx(0.9, abs=0.02)
    assert covered[~cheap].mean() == pytest.approx(0.9, abs=0.02)
    # And dear houses get wider intervals than cheap ones
    width = high - low
    assert width[~cheap].mean() > 2 * width[cheap].mean()


def test_a_coverage_outside_zero_one_is_refused() -> None:
    predicted, actual = heteroscedastic(np.random.default_rng(1), 100)
    with pytest.raises(ValueError, match="not in"):
        calibrate_intervals(predicted, actual, coverage=1.0, bands=4)


def test_every_priced_row_gets_an_interval_around_its_price_and_bad_rows_none(
    packaged_metadata: ModelMetadata,
) -> None:
    # Given two good rows around a bad one
    rows: list[dict[str, Any]] = [
        EXAMPLE_HOUSE,
        {**EXAMPLE_HOUSE, "GrLivArea": -5},
        {**EXAMPLE_HOUSE, "OverallQual": 3, "GrLivArea": 700},
    ]
    # When priced
    result = make_prediction(input_data=rows)
    # Then each priced row's interval holds its price, the bad row has none
    intervals = result["intervals"]
    assert intervals[1] is None
    for price, interval in zip(result["predictions"], intervals, strict=True):
        if price is not None:
            assert interval is not None
            assert interval[0] < price < interval[1]
    # And the nominal coverage is the calibration's
    assert packaged_metadata.intervals is not None
    assert result["interval_coverage"] == packaged_metadata.intervals.coverage


def test_served_intervals_reproduce_the_recorded_held_out_coverage(
    holdout_frame: pd.DataFrame, packaged_metadata: ModelMetadata, config: AppConfig
) -> None:
    # Given the held-out rows priced as served (the exported graph)
    result = make_prediction(input_data=holdout_frame, model=load_model("onnx"))
    actual = holdout_frame[config.model.target].to_numpy(dtype=float)
    # When each actual price is checked against its interval
    bounds = np.array(result["intervals"], dtype=float)
    covered = (bounds[:, 0] <= actual) & (actual <= bounds[:, 1])
    # Then the coverage is the one training recorded
    assert packaged_metadata.model_tests is not None
    recorded = packaged_metadata.model_tests.figures["intervals"]["coverage"]
    assert covered.mean() == pytest.approx(recorded, abs=1e-12)
