"""The pipeline built from the config: fits the snapshot, predicts any legal row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model.config.core import AppConfig
from regression_model.pipeline import RARE_LABEL, build_pipeline
from regression_model.processing.features import (
    FeatureSelector,
    LinearCombination,
    Mapper,
)
from regression_model.processing.schema import EXAMPLE_HOUSE, field_labels


def houses(*changes: dict[str, Any]) -> pd.DataFrame:
    """One row per change: the example house with those fields changed."""
    return pd.DataFrame([{**EXAMPLE_HOUSE, **change} for change in changes])


def log_prices(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """The pipeline's raw output (log-prices), compared exactly between inputs."""
    return np.asarray(pipeline.predict(frame), dtype=np.float64)


def test_pipeline_is_wired_from_the_config(config: AppConfig) -> None:
    # Given the config, When the pipeline is built
    model = config.model
    pipeline = build_pipeline(model)
    steps = pipeline.named_steps
    # Then it selects the configured features first and ends in the configured blend
    assert isinstance(steps["select_features"], FeatureSelector)
    assert list(steps["select_features"].variables) == model.features
    blend = steps["blend"]
    lasso = blend.estimators[0][1].named_steps["lasso"]
    trees = blend.estimators[1][1]
    assert (lasso.alpha, lasso.max_iter) == (model.alpha, model.max_iter)
    assert trees.n_estimators == model.trees_n_estimators
    assert trees.colsample_bytree == model.trees_colsample_bytree
    assert blend.weights == [model.blend_linear_weight, 1.0 - model.blend_linear_weight]
    assert steps["rare_label_grouper"].tol == model.rare_label_tol
    # And every engineered sum adds its configured columns with their weights
    sums = {
        step.new_variable: dict(step.weights)
        for step in steps.values()
        if isinstance(step, LinearCombination)
    }
    assert sums == model.combinations
    # And each ordinal group is mapped with its own mapping
    mapped = {
        name: step.mappings
        for step in steps.values()
        if isinstance(step, Mapper)
        for name in step.variables
    }
    assert mapped == model.mapped_vars


def test_fitted_pipeline_predicts_finite_prices_on_the_held_out_split(
    config: AppConfig, fitted_pipeline: Pipeline, holdout_frame: pd.DataFrame
) -> None:
    target = config.model.target
    predicted = log_prices(fitted_pipeline, holdout_frame.drop(columns=[target]))
    assert predicted.shape == (len(holdout_frame),)
    assert np.isfinite(predicted).all()
    rmsle = np.sqrt(np.mean((predicted - np.log(holdout_frame[target])) ** 2))
    assert rmsle <= config.gate.max_test_rmsle


def test_an_unseen_but_legal_neighbourhood_is_priced_like_a_rare_one(
    fitted_pipeline: Pipeline, train_frame: pd.DataFrame
) -> None:
    # Given Landmrk, legal but absent from training, and Blueste, rare in training
    shares = train_frame["Neighborhood"].value_counts(normalize=True)
    assert "Landmrk" not in shares
    assert shares["Blueste"] < fitted_pipeline.named_steps["rare_label_grouper"].tol
    # When both are priced
    predicted = log_prices(
        fitted_pipeline, houses({"Neighborhood": "Landmrk"}, {"Neighborhood": "Blueste"})
    )
    # Then the unseen one gets a finite price, the rare bucket's
    assert np.isfinite(predicted).all()
    assert predicted[0] == predicted[1]


def test_every_legal_label_of_every_categorical_field_gets_a_finite_price(
    fitted_pipeline: Pipeline,
) -> None:
    # Includes labels the snapshot never contains (MSZoning 'RP', ExterQual 'Po').
    changes = [
        {field: label} for field, labels in field_labels().items() for label in labels
    ]
    predicted = log_prices(fitted_pipeline, houses(*changes))
    assert np.isfinite(predicted).all()
    assert len(predicted) == len(changes)


def test_every_rare_bucket_has_a_code_in_the_encoder(fitted_pipeline: Pipeline) -> None:
    # The grouper must never emit a label the mean encoder has no code for.
    grouper = fitted_pipeline.named_steps["rare_label_grouper"]
    encoder = fitted_pipeline.named_steps["mean_encoder"]
    for variable in grouper.variables:
        bucket = grouper.rare_bucket(variable)
        assert bucket in encoder.encoder_dict_[variable], variable
        if bucket != RARE_LABEL:
            assert variable in grouper.fallback_labels_


@pytest.mark.parametrize("dtype", [None, "float64", "str", "object"])
def test_building_class_as_int_float_or_text_gives_identical_prices(
    fitted_pipeline: Pipeline, dtype: str | None
) -> None:
    # Given the same houses with MSSubClass as int (reference) and as another type
    reference = houses({"MSSubClass": 60}, {"MSSubClass": 20}, {"MSSubClass": 190})
    other = reference.copy()
    if dtype is not None:
        other["MSSubClass"] = other["MSSubClass"].astype(dtype)
    if dtype == "object":
        other["MSSubClass"] = pd.Series([60.0, "20", 190], dtype=object)
    # Then the prices are identical, not just close
    np.testing.assert_array_equal(
        log_prices(fitted_pipeline, other), log_prices(fitted_pipeline, reference)
    )


def test_extra_columns_are_ignored_and_absent_columns_are_imputed(
    fitted_pipeline: Pipeline,
) -> None:
    # Given the house with Kaggle extras and without two imputed columns
    with_extras = houses({"Id": 10, "Street": "Pave", "PoolArea": 0})
    without = with_extras.drop(columns=["TotalBsmtSF", "FireplaceQu"])
    explicit_gaps = houses({"TotalBsmtSF": np.nan, "FireplaceQu": np.nan})
    # Then the extras change nothing, and an absent column equals a missing value
    np.testing.assert_array_equal(
        log_prices(fitted_pipeline, with_extras), log_prices(fitted_pipeline, houses({}))
    )
    predicted = log_prices(fitted_pipeline, without)
    assert np.isfinite(predicted).all()
    np.testing.assert_array_equal(predicted, log_prices(fitted_pipeline, explicit_gaps))


def test_a_row_with_only_the_required_features_gets_a_finite_price(
    config: AppConfig, fitted_pipeline: Pipeline
) -> None:
    required = {name: EXAMPLE_HOUSE[name] for name in config.model.required_features}
    frame = pd.DataFrame([required]).reindex(columns=config.model.features)
    assert np.isfinite(log_prices(fitted_pipeline, frame)).all()


def test_predicting_does_not_change_the_input_frame(
    fitted_pipeline: Pipeline, holdout_frame: pd.DataFrame
) -> None:
    before = holdout_frame.copy()
    fitted_pipeline.predict(holdout_frame)
    pd.testing.assert_frame_equal(holdout_frame, before)
