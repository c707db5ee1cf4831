"""Why the held-out RMSLE stays above model 1.0's goal of 0.112: the evidence.

Fits train-only candidates on ``train.csv`` and scores each on the same
seeded repeated folds (CV) and on ``test.csv`` (held-out). The held-out
error is split into the two partial sales over 4,000 sq ft that ``test.csv``
holds and the other rows, and the script prints what RMSE the other rows
would need for the whole split to reach the goal, given the error each
candidate makes on those two. Nothing here chooses a model: selection is
``regression_model.model_selection``'s, on ``train.csv`` alone. Run with the
training dependencies: ``.tox/test_package/bin/python -m scripts.heldout_gap``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from feature_engine.outliers import Winsorizer
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from regression_model.config.core import ModelConfig, load_config
from regression_model.model_selection import (
    cross_validate,
    cv_folds,
    linear_candidate,
    rmsle,
    tree_candidate,
)
from regression_model.pipeline import (
    build_linear_model,
    build_pipeline,
    build_tree_model,
)
from regression_model.processing.data_manager import load_dataset

GOAL = 0.112
# De Cock's "houses over 4,000 sq ft": the partial sales among them sold far
# below what their size predicts.
LARGE_AREA = 4000.0


@dataclass(frozen=True)
class Row:
    """One candidate's CV and held-out figures."""

    name: str
    cv_mean: float
    cv_std: float
    heldout: float
    heldout_rest: float
    large_partial_ratios: list[float]
    rest_needed: float


def clipped_linear(config: ModelConfig, quantile: float) -> Pipeline:
    """The Lasso with its logged areas capped at the training quantiles."""
    clip = Winsorizer(
        capping_method="quantiles",
        tail="both",
        fold=1.0 - quantile,
        variables=list(config.linear_log_vars),
    )
    return Pipeline([("clip", clip), *build_linear_model(config).steps])


def clipped_blend(config: ModelConfig, quantile: float) -> Pipeline:
    """The configured blend whose Lasso does not extrapolate past training areas."""
    pipeline: Pipeline = build_pipeline(config).set_params(
        blend__linear=clipped_linear(config, quantile)
    )
    return pipeline


class RawColumnsTrees(BaseEstimator):
    """LightGBM on every raw column, labels as pandas categories (no feature work)."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    def _frame(self, features: pd.DataFrame) -> pd.DataFrame:
        frame = features.copy()
        for name, categories in self.categories_.items():
            known = frame[name].where(frame[name].isin(categories))
            frame[name] = pd.Categorical(known, categories=categories)
        return frame

    def fit(self, features: pd.DataFrame, log_price: np.ndarray) -> RawColumnsTrees:
        self.categories_ = {
            name: sorted(features[name].dropna().unique())
            for name in features.columns
            if not pd.api.types.is_numeric_dtype(features[name])
        }
        self.model_ = clone(build_tree_model(self.config))
        self.model_.fit(self._frame(features), log_price)
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.predict(self._frame(features)), dtype=np.float64)


def candidates(config: ModelConfig) -> dict[str, Callable[[], BaseEstimator]]:
    """Train-only candidates: the released design, its parts and two departures."""
    return {
        "configured blend (1.0.x)": lambda: build_pipeline(config),
        "its LightGBM alone": lambda: tree_candidate(config),
        "its Lasso alone": lambda: linear_candidate(config),
        "blend, Lasso areas capped at 0.5%/99.5%": lambda: clipped_blend(config, 0.995),
        "blend, Lasso areas capped at 2%/98%": lambda: clipped_blend(config, 0.98),
        "LightGBM on all 79 raw columns": lambda: RawColumnsTrees(config),
        "LightGBM on raw columns, LightGBM defaults": lambda: RawColumnsTrees(
            config.model_copy(
                update={
                    "trees_n_estimators": 100,
                    "trees_learning_rate": 0.1,
                    "trees_num_leaves": 31,
                    "trees_min_child_samples": 20,
                    "trees_subsample": 1.0,
                    "trees_colsample_bytree": 1.0,
                    "trees_reg_lambda": 0.0,
                }
            )
        ),
    }


def evaluate(splits: int, repeats: int) -> tuple[list[Row], pd.DataFrame, int]:
    """Every candidate's figures, and the held-out rows the gap comes from."""
    config = load_config().model
    train = load_dataset("train.csv")
    test = load_dataset("test.csv")
    features = train.drop(columns=[config.target])
    log_price = np.log(train[config.target].to_numpy(dtype=np.float64))
    test_features = test.drop(columns=[config.target])
    test_log_price = np.log(test[config.target].to_numpy(dtype=np.float64))
    large_partial = (
        (test["GrLivArea"] > LARGE_AREA) & (test["SaleCondition"] == "Partial")
    ).to_numpy()
    rest = ~large_partial
    folds = cv_folds(len(train), splits, repeats, config.random_state)
    rows = []
    for name, factory in candidates(config).items():
        scores, _ = cross_validate(factory(), features, log_price, folds)
        model = factory().fit(features, log_price)
        predicted = np.asarray(model.predict(test_features), dtype=np.float64)
        error = predicted - test_log_price
        large_squares = float(np.sum(error[large_partial] ** 2))
        needed_mse = (GOAL**2 * len(error) - large_squares) / int(rest.sum())
        rows.append(
            Row(
                name=name,
                cv_mean=float(np.mean(scores)),
                cv_std=float(np.std(scores, ddof=1)),
                heldout=rmsle(test_log_price, predicted),
                heldout_rest=rmsle(test_log_price[rest], predicted[rest]),
                large_partial_ratios=[float(v) for v in np.exp(error[large_partial])],
                rest_needed=float(np.sqrt(max(needed_mse, 0.0))),
            )
        )
        print(f"done: {name}", flush=True)
    large = test.loc[large_partial, ["GrLivArea", "Neighborhood", "SalePrice"]]
    return rows, large, int(rest.sum())


def main(argv: list[str] | None = None) -> int:
    """Print the table behind the held-out gap."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows, large, rest_rows = evaluate(args.splits, args.repeats)
    print(f"\ntest.csv's partial sales over {LARGE_AREA:,.0f} sq ft:")
    print(large.to_string())
    print(
        f"\n{'candidate':44s} {'CV RMSLE':>15s} {'held-out':>9s} "
        f"{'other rows':>10s} {'needed':>7s}  predicted/actual (the two)"
    )
    for row in rows:
        ratios = ", ".join(f"{value:.2f}x" for value in row.large_partial_ratios)
        print(
            f"{row.name:44s} {row.cv_mean:.4f} ± {row.cv_std:.4f} {row.heldout:9.4f} "
            f"{row.heldout_rest:10.4f} {row.rest_needed:7.4f}  {ratios}"
        )
    print(
        f"\n'needed': the RMSLE the other {rest_rows} rows would "
        f"need for the whole split to reach {GOAL}, given that candidate's error "
        "on the two."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
