"""Prediction intervals: normalised conformal calibration and its serving lookup.

Training calibrates from ``train.csv``'s out-of-fold log-price residuals
(the K-fold "CV" conformal method of Barber, Candès, Ramdas and Tibshirani,
"Predictive inference with the jackknife+", Ann. Statist. 2021, served with
the model refitted on all rows), normalised by a difficulty estimate so the
width adapts to the house (locally weighted conformal: Lei, G'Sell, Rinaldo,
Tibshirani and Wasserman, "Distribution-free predictive inference for
regression", JASA 2018, section 5.2). The difficulty is the mean absolute
out-of-fold residual in bands of predicted log price, interpolated between
the bands' medians: cheap and expensive houses are priced less surely than
typical ones, and the service needs only the log price it already has. The
finite-sample quantile follows Angelopoulos and Bates, "A gentle
introduction to conformal prediction" (2021), section 1. The refit makes the
guarantee approximate, which is why training measures coverage on
``test.csv`` and gates on it. Serving is one ``np.interp``: no pandas here.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from pydantic import BaseModel, ConfigDict

INTERVAL_METHOD = (
    "K-fold CV conformal on train.csv out-of-fold log residuals, "
    "normalised by mean |residual| per predicted-price band"
)


class IntervalCalibration(BaseModel):
    """The numbers the service needs for intervals: a scale table and a quantile.

    The half-width of a row's log-price interval is ``quantile`` times the
    scale interpolated at its predicted log price from ``knots_log_price``
    (increasing) and ``scales`` (constant beyond the first and last knot).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    coverage: float
    method: str
    calibration_rows: int
    quantile: float
    knots_log_price: list[float]
    scales: list[float]

    @cached_property
    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """``knots_log_price`` and ``scales`` as arrays, converted once, not per call."""
        return np.asarray(self.knots_log_price), np.asarray(self.scales)


def band_scales(
    predicted_log_price: np.ndarray, log_price: np.ndarray, bands: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median predicted log price and mean |residual| of each predicted-price band."""
    order = np.argsort(predicted_log_price, kind="stable")
    groups = np.array_split(order, bands)
    knots = np.array([np.median(predicted_log_price[group]) for group in groups])
    residuals = np.abs(predicted_log_price - log_price)
    scales = np.array([np.mean(residuals[group]) for group in groups])
    return knots, scales


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) * coverage)-th smallest score (finite-sample valid)."""
    rank = math.ceil((len(scores) + 1) * coverage)
    if rank > len(scores):
        raise ValueError(
            f"{len(scores)} calibration rows cannot give {coverage} coverage"
        )
    return float(np.sort(scores)[rank - 1])


def calibrate_intervals(
    predicted_log_price: np.ndarray,
    log_price: np.ndarray,
    *,
    coverage: float,
    bands: int,
) -> IntervalCalibration:
    """Calibrate from out-of-fold predictions of the training rows."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"interval coverage {coverage} is not in (0, 1)")
    knots, scales = band_scales(predicted_log_price, log_price, bands)
    scores = np.abs(predicted_log_price - log_price) / np.interp(
        predicted_log_price, knots, scales
    )
    return IntervalCalibration(
        coverage=coverage,
        method=INTERVAL_METHOD,
        calibration_rows=len(scores),
        quantile=conformal_quantile(scores, coverage),
        knots_log_price=knots.tolist(),
        scales=scales.tolist(),
    )


def log_interval(
    calibration: IntervalCalibration, log_prices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper log-price bounds for each predicted log price."""
    knots, scales = calibration.table
    half_width = calibration.quantile * np.interp(log_prices, knots, scales)
    return log_prices - half_width, log_prices + half_width
