"""The custom transformers: scikit-learn's conventions, then each one's own job."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from regression_model.processing.features import (
    CategoricalLabelCaster,
    FeatureSelector,
    Mapper,
    RareLabelGrouper,
    TemporalVariableTransformer,
    canonical_label,
)

QUALITY = {"Po": 1, "Fa": 2, "TA": 3, "Gd": 4, "Ex": 5}


def house_frame() -> pd.DataFrame:
    """A few rows with one column suited to each transformer, as in the pipeline."""
    return pd.DataFrame(
        {
            "YearRemodAdd": [1990, 2000, 2005, 2008, 1960],
            "YrSold": [2010, 2010, 2008, 2009, 2006],
            "ExterQual": ["TA", "Gd", "Ex", "TA", "Fa"],
            "MSSubClass": pd.Series([20, 60.0, "20", None, 120], dtype=object),
            "Neighborhood": ["NAmes", "NAmes", "NAmes", "OldTown", "Blueste"],
            "LotArea": [8450.0, 9600.0, np.nan, 9550.0, 14260.0],
        }
    )


TRANSFORMERS: dict[str, Callable[[], BaseEstimator]] = {
    "temporal": lambda: TemporalVariableTransformer(
        variables=["YearRemodAdd"], reference_variable="YrSold"
    ),
    "mapper": lambda: Mapper(variables=["ExterQual"], mappings=QUALITY),
    "caster": lambda: CategoricalLabelCaster(variables=["MSSubClass"]),
    "rare": lambda: RareLabelGrouper(variables=["Neighborhood"], tol=0.3, n_categories=1),
    "selector": lambda: FeatureSelector(variables=["LotArea", "Neighborhood", "Id"]),
}


def expected_names_out(name: str) -> list[str]:
    """Columns each transformer emits for ``house_frame()``."""
    if name == "selector":
        return ["LotArea", "Neighborhood", "Id"]
    return list(house_frame().columns)


# --- scikit-learn conventions, for every transformer ---------------------------


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_fit_returns_self_and_learns_only_underscored_attributes(name: str) -> None:
    # Given an unfitted transformer and its constructor parameters
    transformer = TRANSFORMERS[name]()
    params = transformer.get_params()
    before = set(vars(transformer))
    # When it is fitted
    fitted = transformer.fit(house_frame())
    # Then fit returns the same object, learned attributes end in "_"
    assert fitted is transformer
    learned = set(vars(transformer)) - before
    assert learned
    assert all(attribute.endswith("_") for attribute in learned), learned
    # And the constructor parameters are stored unchanged, the very same objects
    assert all(transformer.get_params()[key] is value for key, value in params.items())


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_fit_and_transform_never_mutate_their_input(name: str) -> None:
    frame = house_frame()
    transformer = TRANSFORMERS[name]().fit(frame)
    result = transformer.transform(frame)
    assert result is not frame
    assert_frame_equal(frame, house_frame())


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_get_feature_names_out_names_the_output_columns(name: str) -> None:
    transformer = TRANSFORMERS[name]().fit(house_frame())
    names = transformer.get_feature_names_out()
    assert list(names) == expected_names_out(name)
    assert list(transformer.transform(house_frame()).columns) == list(names)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_unfitted_transformer_raises_not_fitted_error(name: str) -> None:
    transformer = TRANSFORMERS[name]()
    with pytest.raises(NotFittedError):
        transformer.transform(house_frame())
    with pytest.raises(NotFittedError):
        transformer.get_feature_names_out()


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_clone_gives_an_equal_unfitted_copy(name: str) -> None:
    # clone() rebuilds from get_params(): it only works if __init__ stores them as is.
    transformer = TRANSFORMERS[name]().fit(house_frame())
    copy = clone(transformer)
    assert copy.get_params() == transformer.get_params()
    with pytest.raises(NotFittedError):
        copy.transform(house_frame())


@pytest.mark.parametrize("name", ["temporal", "mapper", "caster", "rare"])
def test_fit_names_the_variables_missing_from_the_input(name: str) -> None:
    frame = house_frame()[["LotArea"]]
    with pytest.raises(ValueError, match="not in the input columns"):
        TRANSFORMERS[name]().fit(frame)


@pytest.mark.parametrize("name", ["temporal", "mapper", "caster", "rare"])
def test_transform_rejects_a_frame_without_the_fit_columns(name: str) -> None:
    transformer = TRANSFORMERS[name]().fit(house_frame())
    renamed = house_frame().rename(columns={"LotArea": "LotSize"})
    with pytest.raises(ValueError, match="LotArea"):
        transformer.transform(renamed)
    with pytest.raises(ValueError, match="features"):
        transformer.transform(house_frame().drop(columns=["LotArea"]))


# --- scikit-learn's own estimator checks ----------------------------------------

# Checks that cannot apply to frame-based label transformers, each with why.
NOT_APPLICABLE = {
    "check_complex_data": "columns hold arbitrary labels, so complex values are not "
    "rejected up front",
    "check_dtype_object": "object columns (category labels) are the normal input, so "
    "object dtype is accepted, not rejected",
    "check_estimators_nan_inf": "NaN is data here (a missing value for the pipeline's "
    "imputers downstream), so it passes through instead of being rejected",
    "check_estimators_empty_data_messages": "0 columns raise ValueError, worded by "
    "as_frame rather than by check_array",
    "check_fit2d_predict1d": "1-D input raises ValueError, worded by as_frame rather "
    "than check_array's 'Reshape your data'",
    "check_estimator_sparse_tag": "DataFrame-based: sparse input is unsupported and "
    "not detected with the wording the check expects",
    "check_estimator_sparse_array": "DataFrame-based: sparse input is unsupported and "
    "not detected with the wording the check expects",
    "check_estimator_sparse_matrix": "DataFrame-based: sparse input is unsupported and "
    "not detected with the wording the check expects",
    "check_transformer_preserve_dtypes": "transform returns a DataFrame (as "
    "feature-engine does); the check reads an ndarray's .dtype",
}
OBJECT_OUTPUT = (
    "grouped labels are object dtype by design (feature-engine's encoders expect "
    "it), which the check's assert_allclose cannot compare"
)
SELECTS_BY_NAME = (
    "its job is to accept frames with more or fewer columns than fit saw, so a "
    "different number of features is not an error"
)
NOT_APPLICABLE_BY_TRANSFORMER: dict[str, dict[str, str]] = {
    "temporal": {
        "check_fit2d_1feature": "needs two columns by construction: a year and the "
        "reference year",
    },
    "selector": {
        "check_n_features_in_after_fitting": SELECTS_BY_NAME,
        "check_transformer_general": SELECTS_BY_NAME,
    },
    "rare": dict.fromkeys(
        (
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_fit_idempotent",
        ),
        OBJECT_OUTPUT,
    ),
}

# Built so that they apply to generic numeric arrays (columns x0, x1, ...), as
# the features module promises for every class, FeatureSelector included: no
# float can be mapped to a grade, so the label transformers get no variables
# except the grouper, whose tol=0 keeps every value a frequent label.
GENERIC_TRANSFORMERS: dict[str, Callable[[], BaseEstimator]] = {
    "temporal": lambda: TemporalVariableTransformer(
        variables=["x1"], reference_variable="x0"
    ),
    "mapper": lambda: Mapper(variables=[], mappings={}),
    "caster": lambda: CategoricalLabelCaster(variables=[]),
    "rare": lambda: RareLabelGrouper(variables=["x0"], tol=0.0, n_categories=1),
    "selector": lambda: FeatureSelector(variables=["x0", "x1"]),
}


@pytest.mark.parametrize("name", GENERIC_TRANSFORMERS)
def test_passes_scikit_learn_estimator_checks_that_apply(name: str) -> None:
    # Given the checks that cannot apply, each with its reason
    expected_failures = NOT_APPLICABLE | NOT_APPLICABLE_BY_TRANSFORMER.get(name, {})
    # When scikit-learn runs all its checks without stopping at a failure
    results = check_estimator(
        GENERIC_TRANSFORMERS[name](),
        expected_failed_checks=expected_failures,
        on_fail=None,
        on_skip=None,
    )
    # Then every other check passed
    names = {result["check_name"] for result in results}
    assert set(expected_failures) <= names, "an expected failure names no check"
    failed = {
        result["check_name"]: repr(result["exception"])[:300]
        for result in results
        if result["status"] == "failed"
    }
    assert failed == {}
    passed = [result for result in results if result["status"] == "passed"]
    assert len(passed) >= 25


# --- TemporalVariableTransformer ------------------------------------------------


def test_temporal_transformer_replaces_years_by_age_at_the_reference() -> None:
    frame = house_frame()
    result = TRANSFORMERS["temporal"]().fit(frame).transform(frame)
    assert result["YearRemodAdd"].tolist() == [20, 10, 3, 1, 46]
    assert result["YrSold"].equals(frame["YrSold"])


def test_temporal_transformer_reads_numeric_text() -> None:
    frame = pd.DataFrame({"built": ["1990", "2000"], "sold": [2010, "2008"]})
    transformer = TemporalVariableTransformer(
        variables=["built"], reference_variable="sold"
    )
    result = transformer.fit(frame).transform(frame)
    assert result["built"].tolist() == [20, 8]


# --- Mapper ---------------------------------------------------------------------


def test_mapper_maps_grades_to_their_float_codes() -> None:
    frame = house_frame()
    result = TRANSFORMERS["mapper"]().fit(frame).transform(frame)
    assert result["ExterQual"].tolist() == [3.0, 4.0, 5.0, 3.0, 2.0]
    assert result["ExterQual"].dtype == np.float64


@pytest.mark.parametrize("label", ["Good", "gd"])
def test_mapper_names_the_variable_and_the_label_it_cannot_map(label: str) -> None:
    # Given a label without a mapping (it would otherwise become NaN, unnamed)
    frame = house_frame()
    mapper = TRANSFORMERS["mapper"]().fit(frame)
    frame.loc[2, "ExterQual"] = label
    # Then transform raises, naming both
    with pytest.raises(ValueError, match=r"ExterQual has labels without a mapping") as e:
        mapper.transform(frame)
    assert repr(label) in str(e.value)


# --- CategoricalLabelCaster -----------------------------------------------------


@pytest.mark.parametrize(
    "value", [20, 20.0, "20", np.int64(20), np.float64(20.0), np.float32(20.0)]
)
def test_canonical_label_gives_one_label_per_building_class(value: Any) -> None:
    assert canonical_label(value) == "20"


@pytest.mark.parametrize(
    ("value", "label"),
    [(20.5, "20.5"), ("RL", "RL"), (True, "True"), ("C (all)", "C (all)")],
)
def test_canonical_label_keeps_other_values_as_their_text(value: Any, label: str) -> None:
    assert canonical_label(value) == label


@pytest.mark.parametrize(
    "missing",
    [None, float("nan"), np.nan, np.float32("nan"), pd.NA],
    ids=["None", "float-nan", "np-nan", "float32-nan", "pd-NA"],
)
def test_canonical_label_keeps_missing_values_missing(missing: Any) -> None:
    # A missing value must reach the imputer as missing, not as a label like "nan".
    assert pd.isna(canonical_label(missing))


def test_caster_makes_mixed_building_classes_one_object_label() -> None:
    frame = house_frame()
    result = TRANSFORMERS["caster"]().fit(frame).transform(frame)
    assert result["MSSubClass"].dtype == object
    assert result["MSSubClass"].tolist()[:3] == ["20", "60", "20"]
    assert pd.isna(result["MSSubClass"].iloc[3])
    assert result["MSSubClass"].iloc[4] == "120"


def test_caster_keeps_missing_values_of_a_nullable_integer_column_missing() -> None:
    # Given a nullable Int64 column (what to_kaggle_schema produces) with a gap
    frame = pd.DataFrame({"MSSubClass": pd.array([20, None], dtype="Int64")})
    # When cast
    caster = CategoricalLabelCaster(variables=["MSSubClass"])
    result = caster.fit(frame).transform(frame)
    # Then the gap is still missing, so the pipeline's imputer fills it
    assert result["MSSubClass"].iloc[0] == "20"
    assert result["MSSubClass"].isna().tolist() == [False, True]


def test_caster_turns_pandas_text_columns_into_object_dtype() -> None:
    frame = pd.DataFrame({"MSZoning": pd.Series(["RL", None], dtype="str")})
    result = CategoricalLabelCaster(variables=["MSZoning"]).fit(frame).transform(frame)
    assert result["MSZoning"].dtype == object
    assert result["MSZoning"].iloc[0] == "RL"
    assert pd.isna(result["MSZoning"].iloc[1])


# --- RareLabelGrouper -----------------------------------------------------------


def neighbourhood_frame() -> pd.DataFrame:
    """Two frequent neighbourhoods, one rare; and an air-con column with no rare label."""
    return pd.DataFrame(
        {
            "Neighborhood": ["NAmes"] * 10 + ["OldTown"] * 9 + ["Blueste"],
            "CentralAir": ["Y"] * 17 + ["N"] * 3,
        }
    )


def test_grouper_learns_frequent_labels_and_groups_rare_and_unseen_ones() -> None:
    # Given labels with shares 50 %, 45 %, 5 % and a 10 % threshold
    frame = neighbourhood_frame()
    grouper = RareLabelGrouper(variables=["Neighborhood"], tol=0.1, n_categories=1)
    grouper.fit(frame)
    assert grouper.frequent_labels_ == {"Neighborhood": ["NAmes", "OldTown"]}
    assert grouper.fallback_labels_ == {}
    # When a rare and an unseen label arrive, Then both become the rare bucket
    new = pd.DataFrame(
        {"Neighborhood": ["OldTown", "Blueste", "Landmrk"], "CentralAir": "Y"}
    )
    result = grouper.transform(new)
    assert result["Neighborhood"].tolist() == ["OldTown", "Rare", "Rare"]
    assert grouper.rare_bucket("Neighborhood") == "Rare"


def test_grouper_falls_back_to_the_most_frequent_label_where_none_was_rare() -> None:
    # Given a variable whose every training label is frequent: no training row
    # carried the rare bucket, so an encoder fitted after it has no code for it
    frame = neighbourhood_frame()
    grouper = RareLabelGrouper(variables=["CentralAir"], tol=0.1, n_categories=1)
    grouper.fit(frame)
    assert grouper.fallback_labels_ == {"CentralAir": "Y"}
    # When an unseen label arrives, Then it becomes the most frequent label
    new = pd.DataFrame({"Neighborhood": "NAmes", "CentralAir": ["N", "Maybe", "Y"]})
    assert grouper.transform(new)["CentralAir"].tolist() == ["N", "Y", "Y"]
    assert grouper.rare_bucket("CentralAir") == "Y"


def test_grouper_leaves_variables_with_few_categories_whole() -> None:
    # Given 5 % Blueste but n_categories=3: three labels are not "many"
    frame = neighbourhood_frame()
    grouper = RareLabelGrouper(variables=["Neighborhood"], tol=0.1, n_categories=3)
    grouper.fit(frame)
    assert grouper.frequent_labels_["Neighborhood"] == ["Blueste", "NAmes", "OldTown"]
    assert (
        grouper.transform(frame)["Neighborhood"].tolist()
        == frame["Neighborhood"].tolist()
    )
    assert grouper.fallback_labels_ == {"Neighborhood": "NAmes"}


def test_grouper_output_is_object_dtype_even_for_pandas_text() -> None:
    frame = neighbourhood_frame().astype("str")
    grouper = RareLabelGrouper(variables=["Neighborhood", "CentralAir"], tol=0.1)
    result = grouper.fit(frame).transform(frame)
    assert all(pd.api.types.is_object_dtype(result[name]) for name in result)


def test_grouper_is_idempotent_picklable_and_row_independent() -> None:
    # The estimator checks cannot compare its object output, so check here.
    frame = neighbourhood_frame()
    grouper = RareLabelGrouper(variables=["Neighborhood", "CentralAir"], tol=0.1)
    first = grouper.fit(frame).transform(frame)
    assert_frame_equal(grouper.fit(frame).transform(frame), first)
    restored = pickle.loads(pickle.dumps(grouper))
    assert_frame_equal(restored.transform(frame), first)
    subset = frame.iloc[[19, 0, 5]]
    assert_frame_equal(grouper.transform(subset), first.iloc[[19, 0, 5]])


# --- FeatureSelector ------------------------------------------------------------


def test_selector_drops_extra_columns_and_adds_missing_ones_as_nan() -> None:
    # Given a frame with extras (YrSold, ...) and without the selected "Id"
    frame = house_frame()
    selector = TRANSFORMERS["selector"]().fit(frame)
    # When transformed
    result = selector.transform(frame)
    # Then exactly the variables remain, in order, the absent one all missing
    assert list(result.columns) == ["LotArea", "Neighborhood", "Id"]
    assert result["Id"].isna().all()
    assert result["Neighborhood"].equals(frame["Neighborhood"])


def test_selector_output_does_not_depend_on_the_fit_frame() -> None:
    selector = FeatureSelector(variables=["b", "a"]).fit(pd.DataFrame({"z": [1]}))
    result = selector.transform(pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]}))
    assert result.to_dict("list") == {"b": [3, 4], "a": [1, 2]}
