"""One field under two names: agreeing values are fine, disagreeing ones an error."""

from __future__ import annotations

from typing import Any

import pytest

from regression_model.config.core import AppConfig
from regression_model.processing.schema import EXAMPLE_HOUSE, is_missing
from regression_model.processing.validation import (
    COLUMN_WISE_ROWS,
    ValidatedRows,
    validate_rows,
)

PAIRS = [("1stFlrSF", "FirstFlrSF"), ("2ndFlrSF", "SecondFlrSF")]


def validated(rows: list[Any], config: AppConfig) -> ValidatedRows:
    return validate_rows(rows, config.model.features, config.model.required_features)


@pytest.mark.parametrize(("kaggle", "python"), PAIRS)
@pytest.mark.parametrize("batch", [1, COLUMN_WISE_ROWS + 2])
def test_two_names_with_different_values_are_a_row_error_naming_the_field(
    config: AppConfig, kaggle: str, python: str, batch: int
) -> None:
    # Given a batch whose last row sends one field under both names, disagreeing
    row = {**EXAMPLE_HOUSE, python: EXAMPLE_HOUSE[kaggle] + 100}
    rows = [*([EXAMPLE_HOUSE] * (batch - 1)), row]
    # When validated
    result = validated(rows, config)
    # Then that row alone has one error, under Kaggle's name, quoting both values
    [error] = result.errors
    assert (error["row"], error["field"]) == (batch - 1, kaggle)
    assert "different values" in error["message"]
    assert repr(kaggle) in error["message"]
    assert repr(python) in error["message"]
    assert str(EXAMPLE_HOUSE[kaggle] + 100) in error["message"]
    assert result.valid_indices == list(range(batch - 1))


@pytest.mark.parametrize(("kaggle", "python"), PAIRS)
@pytest.mark.parametrize(
    ("first", "second"), [(776, 776), (776, 776.0), (None, "NA"), (float("nan"), "")]
)
def test_two_names_with_equal_values_are_fine(
    config: AppConfig, kaggle: str, python: str, first: Any, second: Any
) -> None:
    # Given a row that sends one field under both names with the same value
    row = {**EXAMPLE_HOUSE, kaggle: first, python: second}
    # When validated, Then it is clean and carries that value
    result = validated([row], config)
    assert result.errors == []
    [record] = result.records
    assert record is not None
    expected = None if is_missing(first) else float(first)
    assert record[kaggle] == expected


def test_a_conflict_is_reported_beside_the_rows_other_errors_once(
    config: AppConfig,
) -> None:
    # Given a row with a conflict on 1stFlrSF (one value also out of range) and
    # a bad label elsewhere
    row = {**EXAMPLE_HOUSE, "FirstFlrSF": 0, "ExterQual": "Good"}
    # When validated, Then each field is named once: the conflict, the label
    fields = [error["field"] for error in validated([row], config).errors]
    assert sorted(fields) == ["1stFlrSF", "ExterQual"]
