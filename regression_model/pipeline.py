"""Build the (unfitted) house-price pipeline from the typed config.

The steps follow the research pipeline: impute, flag missingness, derive the
elapsed-time feature, log-transform skewed areas, binarize, map ordinal
grades, group rare labels, encode categories by target order, scale, and fit
a Lasso on log(SalePrice). Every column list comes from ``config.yml``.
"""

from __future__ import annotations

from feature_engine.encoding import OrdinalEncoder
from feature_engine.imputation import (
    AddMissingIndicator,
    CategoricalImputer,
    MeanMedianImputer,
)
from feature_engine.selection import DropFeatures
from feature_engine.transformation import LogTransformer
from feature_engine.wrappers import SklearnTransformerWrapper
from sklearn.linear_model import Lasso
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer, MinMaxScaler

from regression_model.config.core import ModelConfig
from regression_model.processing.features import (
    CategoricalLabelCaster,
    FeatureSelector,
    Mapper,
    RareLabelGrouper,
    TemporalVariableTransformer,
)

RARE_LABEL = "Rare"
MISSING_LABEL = "Missing"


def _names(columns: list[str]) -> list[str | int]:
    """feature-engine types column lists as ``list[str | int]``."""
    return list(columns)


def build_pipeline(config: ModelConfig) -> Pipeline:
    """Return the unfitted pipeline that ``config`` describes."""
    label_vars = config.categorical_vars + list(config.mapped_vars)
    mapping_steps = [
        (f"mapper_{group}", Mapper(variables=names, mappings=mappings))
        for group, names, mappings in (
            ("qual", config.qual_vars, config.qual_mappings),
            ("exposure", config.exposure_vars, config.exposure_mappings),
            ("finish", config.finish_vars, config.finish_mappings),
            ("garage", config.garage_vars, config.garage_mappings),
        )
    ]
    return Pipeline(
        [
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
                "missing_indicator",
                AddMissingIndicator(variables=_names(config.numerical_vars_with_na)),
            ),
            (
                "mean_imputation",
                MeanMedianImputer(
                    imputation_method="mean",
                    variables=_names(config.numerical_vars_with_na),
                ),
            ),
            (
                "median_imputation",
                MeanMedianImputer(
                    imputation_method="median",
                    variables=_names(config.numerical_vars_with_median),
                ),
            ),
            (
                "elapsed_time",
                TemporalVariableTransformer(
                    variables=config.temporal_vars,
                    reference_variable=config.ref_var,
                ),
            ),
            ("drop_features", DropFeatures(features_to_drop=_names([config.ref_var]))),
            ("log", LogTransformer(variables=_names(config.numericals_log_vars))),
            (
                "binarizer",
                SklearnTransformerWrapper(
                    transformer=Binarizer(threshold=0),
                    variables=_names(config.binarize_vars),
                ),
            ),
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
                "categorical_encoder",
                OrdinalEncoder(
                    encoding_method="ordered", variables=_names(config.categorical_vars)
                ),
            ),
            ("scaler", MinMaxScaler()),
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
