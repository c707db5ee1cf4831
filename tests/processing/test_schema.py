"""The input schema: what a house row may contain, and its fit with config and data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from regression_model.config.core import AppConfig
from regression_model.processing.schema import (
    EXAMPLE_HOUSE,
    HouseFeatures,
    field_labels,
    is_missing,
)
from regression_model.processing.validation import FIELD_ALIASES, validate_rows


def validated(**fields: Any) -> dict[str, Any]:
    """The example house with ``fields`` changed, validated and dumped in Kaggle names."""
    house = HouseFeatures.model_validate({**EXAMPLE_HOUSE, **fields})
    return house.model_dump(by_alias=True)


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), np.nan, "", "   ", "NA", " na ", "Na", pd.NA, pd.NaT],
    ids=repr,
)
def test_every_spelling_of_no_value_is_missing(value: Any) -> None:
    assert is_missing(value)


@pytest.mark.parametrize("value", ["None", "NAmes", "N", 0, 0.0, False, "0"], ids=repr)
def test_real_values_that_look_empty_are_not_missing(value: Any) -> None:
    # "None" is De Cock's "no masonry veneer"; "N" a CentralAir answer.
    assert not is_missing(value)


@pytest.mark.parametrize(
    ("field", "sent", "label"),
    [
        ("ExterQual", " gd ", "Gd"),
        ("Neighborhood", "names", "NAmes"),
        ("Neighborhood", "NRIDGHT", "NridgHt"),
        ("MSZoning", "c (ALL)", "C (all)"),
        ("Exterior1st", "wd sdng", "Wd Sdng"),
        ("CentralAir", " y", "Y"),
        ("BsmtExposure", "NO", "No"),
    ],
)
def test_labels_match_ignoring_case_and_surrounding_blanks(
    field: str, sent: str, label: str
) -> None:
    assert validated(**{field: sent})[field] == label


@pytest.mark.parametrize("missing", [None, "", "NA", " na ", float("nan")], ids=repr)
@pytest.mark.parametrize("field", ["FireplaceQu", "TotalBsmtSF", "MSSubClass", "YrSold"])
def test_missing_spellings_become_none_in_label_and_number_fields(
    field: str, missing: Any
) -> None:
    assert validated(**{field: missing})[field] is None


@pytest.mark.parametrize(
    "value", [20, 20.0, "20", " 20 ", "20.0", np.int64(20), np.float64(20.0)], ids=repr
)
def test_building_class_sent_as_int_float_or_text_is_one_class(value: Any) -> None:
    dumped = validated(MSSubClass=value)["MSSubClass"]
    assert dumped == 20
    assert type(dumped) is int


def test_course_aliases_for_floor_areas_are_accepted() -> None:
    # Given the course's Python-friendly names instead of Kaggle's
    row = {k: v for k, v in EXAMPLE_HOUSE.items() if k not in {"1stFlrSF", "2ndFlrSF"}}
    house = HouseFeatures.model_validate({**row, "FirstFlrSF": 900, "SecondFlrSF": 300})
    # Then they land in the same fields, dumped under Kaggle's names
    dumped = house.model_dump(by_alias=True)
    assert (dumped["1stFlrSF"], dumped["2ndFlrSF"]) == (900.0, 300.0)


def test_extra_columns_are_ignored_and_absent_ones_are_missing() -> None:
    # Given Kaggle columns the model does not read, some that 0.2.1 validated
    row = {**EXAMPLE_HOUSE, "Id": 10, "Street": "Pave", "SalePrice": 189000}
    row |= {"LotFrontage": -5, "MiscVal": "lots", "PavedDrive": "Maybe"}
    del row["TotalBsmtSF"]
    dumped = HouseFeatures.model_validate(row).model_dump(by_alias=True)
    # Then they are accepted and ignored, even when they would not be valid
    assert not {"Id", "Street", "SalePrice", "LotFrontage", "MiscVal"} & set(dumped)
    assert "PavedDrive" not in dumped
    assert dumped["TotalBsmtSF"] is None


def test_numbers_keep_their_value_from_text_and_numpy_scalars() -> None:
    dumped = validated(GrLivArea="1804", LotArea=np.int64(7500), OverallQual=np.int64(7))
    assert dumped["GrLivArea"] == 1804.0
    assert dumped["LotArea"] == 7500.0
    assert dumped["OverallQual"] == 7


def test_field_labels_lists_each_categorical_fields_vocabulary() -> None:
    labels = field_labels()
    assert "Gd" in labels["ExterQual"]
    assert "NAmes" in labels["Neighborhood"]
    assert 20 in labels["MSSubClass"]
    assert "GrLivArea" not in labels


def test_every_config_feature_is_a_schema_field(config: AppConfig) -> None:
    schema_fields = set(FIELD_ALIASES.values())
    assert set(config.model.features) <= schema_fields


def test_every_categorical_config_feature_has_a_label_vocabulary(
    config: AppConfig,
) -> None:
    labelled = set(config.model.categorical_vars) | set(config.model.mapped_vars)
    assert labelled <= set(field_labels())


def test_every_mapping_covers_the_schema_vocabulary_of_its_variables(
    config: AppConfig,
) -> None:
    # Given each mapped (ordinal) variable and the labels the schema lets through
    labels = field_labels()
    mapped = config.model.mapped_vars
    assert mapped
    # Then every such label has a code, so Mapper cannot fail on a valid row
    uncovered = {
        name: sorted(set(labels[name]) - set(mapping)) for name, mapping in mapped.items()
    }
    assert not any(uncovered.values()), uncovered
    # And a variable whose missing value becomes "Missing" maps that label too
    for name in set(mapped) & set(config.model.categorical_vars_with_na_missing):
        assert "Missing" in mapped[name], name


def test_logged_areas_cannot_go_below_the_logs_domain(config: AppConfig) -> None:
    # log(1 + x) needs x > -1; areas have a lower bound of 0 (or 1) in the schema.
    for name in config.model.linear_log_vars:
        if name in config.model.combinations:
            continue
        result = validate_rows([{**EXAMPLE_HOUSE, name: -1}], [name], [])
        assert [error["field"] for error in result.errors] == [name]


def test_example_house_is_the_documented_held_out_sale(
    config: AppConfig, holdout_frame: pd.DataFrame
) -> None:
    # Given the snapshot row the schema module says EXAMPLE_HOUSE is (Id 10)
    row = holdout_frame.set_index("Id").loc[10]
    # Then every feature matches and the sale is the documented one
    assert {name: row[name] for name in EXAMPLE_HOUSE} == EXAMPLE_HOUSE
    assert (row["SalePrice"], row["YrSold"]) == (189000, 2010)


def test_every_snapshot_row_passes_the_schema(
    config: AppConfig, train_frame: pd.DataFrame, holdout_frame: pd.DataFrame
) -> None:
    # The schema must accept every real house the model was built from.
    rows = pd.concat([train_frame, holdout_frame]).to_dict(orient="records")
    result = validate_rows(rows, config.model.features, config.model.required_features)
    assert result.errors == []
    assert len(result.valid_indices) == len(rows)
