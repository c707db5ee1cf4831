"""Build the (unfitted) house-price pipeline from the typed config.

One shared preparation turns a raw row into a numeric design: impute, add
the engineered totals and ages, map ordinal grades, group rare labels and
encode each label by its smoothed mean log-price. Two models read that
design and are averaged with the configured weight (chosen by cross-
validation in ``model_selection``): a Lasso on log-transformed, standardised
columns and a LightGBM tree ensemble on the columns as they are. Every
column list and hyper-parameter comes from ``config.yml``.
"""

from __future__ import annotations

from typing import Any

from feature_engine.encoding import MeanEncoder
from feature_engine.imputation import CategoricalImputer, MeanMedianImputer
from feature_engine.transformation import LogCpTransformer
from lightgbm import LGBMRegressor
from sklearn.ensemble import VotingRegressor
from sklearn.linear_model import Lasso
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from regression_model.config.core import ModelConfig
from regression_model.processing.features import (
    CategoricalLabelCaster,
    FeatureSelector,
    LinearCombination,
    Mapper,
    RareLabelGrouper,
)

RARE_LABEL = "Rare"
MISSING_LABEL = "Missing"
# log(1 + x): areas may be zero (no second floor, no porch).
LOG_SHIFT = 1.0


def _names(columns: list[str]) -> list[str | int]:
    """feature-engine types column lists as ``list[str | int]``."""
    return list(columns)


def preparation_steps(config: ModelConfig) -> list[tuple[str, Any]]:
    """The steps from a raw row to the numeric design both models read."""
    label_vars = config.categorical_vars + list(config.mapped_vars)
    mapping_steps = [
        (f"mapper_{group}", Mapper(variables=names, mappings=mappings))
        for group, names, mappings in (
            ("qual", config.qual_vars, config.qual_mappings),
            ("exposure", config.exposure_vars, config.exposure_mappings),
        )
        if names
    ]
    combination_steps = [
        (f"combine_{name}", LinearCombination(new_variable=name, weights=weights))
        for name, weights in config.combinations.items()
    ]
    return [
        ("select_features", FeatureSelector(variables=config.features)),
        ("cast_labels", CategoricalLabelCaster(variables=label_vars)),
        (
            "missing_imputation",
            CategoricalImputer(
                imputation_method="missing",
                fill_value=MISSING_LABEL,
                variables=_names(config.categorical_vars_with_na_missing),
            ),
        ),
        (
            "frequent_imputation",
            CategoricalImputer(
                imputation_method="frequent",
                variables=_names(config.categorical_vars_with_na_frequent),
            ),
        ),
        (
            "median_imputation",
            MeanMedianImputer(
                imputation_method="median",
                variables=_names(config.numerical_vars_with_median),
            ),
        ),
        *combination_steps,
        *mapping_steps,
        (
            "rare_label_grouper",
            RareLabelGrouper(
                variables=config.categorical_vars,
                tol=config.rare_label_tol,
                n_categories=config.rare_label_n_categories,
                rare_label=RARE_LABEL,
            ),
        ),
        (
            "mean_encoder",
            MeanEncoder(
                variables=_names(config.categorical_vars),
                smoothing=config.mean_encoding_smoothing,
            ),
        ),
    ]


def build_linear_model(config: ModelConfig) -> Pipeline:
    """Lasso on the design with skewed areas logged and every column standardised."""
    return Pipeline(
        [
            (
                "log",
                LogCpTransformer(variables=_names(config.linear_log_vars), C=LOG_SHIFT),
            ),
            ("scaler", StandardScaler()),
            (
                "lasso",
                Lasso(
                    alpha=config.alpha,
                    max_iter=config.max_iter,
                    random_state=config.random_state,
                ),
            ),
        ]
    )


def build_tree_model(config: ModelConfig) -> LGBMRegressor:
    """Gradient-boosted trees; one thread and deterministic so a seed fixes the fit."""
    return LGBMRegressor(
        n_estimators=config.trees_n_estimators,
        learning_rate=config.trees_learning_rate,
        num_leaves=config.trees_num_leaves,
        min_child_samples=config.trees_min_child_samples,
        subsample=config.trees_subsample,
        subsample_freq=1,
        colsample_bytree=config.trees_colsample_bytree,
        reg_lambda=config.trees_reg_lambda,
        random_state=config.random_state,
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )


def build_pipeline(config: ModelConfig) -> Pipeline:
    """Return the unfitted pipeline that ``config`` describes."""
    weight = config.blend_linear_weight
    return Pipeline(
        [
            *preparation_steps(config),
            (
                "blend",
                VotingRegressor(
                    [
                        ("linear", build_linear_model(config)),
                        ("trees", build_tree_model(config)),
                    ],
                    weights=[weight, 1.0 - weight],
                ),
            ),
        ]
    )
