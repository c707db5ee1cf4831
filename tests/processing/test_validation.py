"""Per-row validation: each row is clean or gets named errors; none is dropped."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from regression_model.config.core import AppConfig
from regression_model.processing.schema import EXAMPLE_HOUSE, MAX_LABEL_LENGTH
from regression_model.processing.validation import (
    COLUMN_WISE_ROWS,
    REQUIRED_MESSAGE,
    ROW_LEVEL,
    RowError,
    ValidatedRows,
    rows_from_input,
    validate_rows,
)


@pytest.fixture
def validate(config: AppConfig) -> Any:
    """``validate_rows`` with the packaged features and required features."""

    def run(rows: Sequence[Any]) -> ValidatedRows:
        return validate_rows(rows, config.model.features, config.model.required_features)

    return run


ABSENT = "<field left out of the row>"

BAD_VALUES: list[tuple[str, Any, str]] = [
    # (field in Kaggle's name, value sent, a fragment of the message)
    ("OverallQual", "seven", "valid integer"),
    ("LotArea", "12a", "valid number"),
    ("GrLivArea", [1804], "valid number"),
    ("LotArea", {"sq_ft": 7500}, "valid number"),
    ("Neighborhood", 3, "Input should be"),
    ("GarageArea", -1, "greater than or equal to 0"),
    ("2ndFlrSF", -0.5, "greater than or equal to 0"),
    ("GrLivArea", 0, "greater than or equal to 1"),
    ("1stFlrSF", 0, "greater than or equal to 1"),
    ("TotalBsmtSF", -1.0, "greater than or equal to 0"),
    ("GrLivArea", 5e-324, "greater than or equal to 1"),
    ("LotArea", 0.5, "greater than or equal to 1"),
    ("Neighborhood", "Nowhere", "Input should be"),
    ("MSSubClass", 25, "Input should be 20"),
    ("MSSubClass", "abc", "Input should be 20"),
    ("ExterQual", "Good", "Input should be 'Ex', 'Gd', 'TA', 'Fa' or 'Po'"),
    ("KitchenQual", "Excellent", "Input should be"),
    ("YrSold", True, "a boolean is not a number"),
    ("GrLivArea", False, "a boolean is not a number"),
    ("MSSubClass", True, "a boolean is not a number"),
    ("CentralAir", True, "Input should be 'N' or 'Y'"),
    ("LotArea", float("inf"), "finite number"),
    ("TotalBsmtSF", float("-inf"), "finite number"),
    ("GarageCars", float("inf"), "finite number"),
    ("Exterior1st", "x" * (MAX_LABEL_LENGTH + 8), "characters long"),
    ("GrLivArea", "1" * (MAX_LABEL_LENGTH + 1), "is not a number"),
    ("OverallQual", 7.5, "fractional part"),
    ("OverallQual", 11, "less than or equal to 10"),
    ("YrSold", 1700, "greater than or equal to 1800"),
    ("LotArea", 1e308, "less than or equal to"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_VALUES)
def test_a_bad_value_gives_one_error_naming_row_and_field(
    validate: Any, field: str, value: Any, fragment: str
) -> None:
    # Given a batch whose middle row has one bad value
    rows = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, field: value}, EXAMPLE_HOUSE]
    # When validated
    result = validate(rows)
    # Then exactly that row gets exactly one error for that field (Kaggle's name)
    assert [(e["row"], e["field"]) for e in result.errors] == [(1, field)]
    assert fragment in result.errors[0]["message"]
    # And the neighbours stay clean and nothing is dropped
    assert result.valid_indices == [0, 2]
    assert len(result.records) == len(result.imputed) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ExterQual", "Good"),
        ("Neighborhood", "Nowhere"),
        ("MSSubClass", 25),
        ("GrLivArea", 0),
        ("GarageArea", -1),
        ("OverallQual", 7.5),
        ("GrLivArea", 1e308),
    ],
)
def test_a_short_offending_value_is_quoted_in_the_message(
    validate: Any, field: str, value: Any
) -> None:
    result = validate([{**EXAMPLE_HOUSE, field: value}])
    assert f"(got {value!r})" in result.errors[0]["message"]


def test_a_long_offending_value_is_shortened_in_the_message(validate: Any) -> None:
    value = "z" * 200
    message = validate([{**EXAMPLE_HOUSE, "Neighborhood": value}]).errors[0]["message"]
    assert "zzzz" in message
    assert value not in message


def test_an_alias_with_a_bad_value_is_reported_under_kaggles_name(validate: Any) -> None:
    row = {k: v for k, v in EXAMPLE_HOUSE.items() if k != "1stFlrSF"}
    result = validate([{**row, "FirstFlrSF": 0}])
    assert [error["field"] for error in result.errors] == ["1stFlrSF"]


@pytest.mark.parametrize("field", ["GrLivArea", "OverallQual", "Neighborhood"])
@pytest.mark.parametrize(
    "missing", [ABSENT, None, "NA", "", float("nan"), pd.NA], ids=repr
)
def test_a_missing_required_field_is_an_error_not_an_imputation(
    validate: Any, field: str, missing: Any
) -> None:
    row = {k: v for k, v in EXAMPLE_HOUSE.items() if k != field}
    if missing is not ABSENT:
        row[field] = missing
    result = validate([row])
    assert result.errors == [RowError(row=0, field=field, message=REQUIRED_MESSAGE)]
    assert result.records == [None]


def test_a_bad_required_value_is_reported_once(validate: Any) -> None:
    # An invalid GrLivArea is not also reported as "required".
    result = validate([{**EXAMPLE_HOUSE, "GrLivArea": 0}])
    assert [error["field"] for error in result.errors] == ["GrLivArea"]
    assert result.errors[0]["message"] != REQUIRED_MESSAGE


def test_every_problem_of_a_row_is_reported(validate: Any) -> None:
    row = {**EXAMPLE_HOUSE, "ExterQual": "Good", "LotArea": -5}
    del row["Neighborhood"]
    result = validate([row])
    assert {error["field"] for error in result.errors} == {
        "ExterQual",
        "LotArea",
        "Neighborhood",
    }
    assert {error["row"] for error in result.errors} == {0}


@pytest.mark.parametrize("row", ["a house", None, 42, ["GrLivArea", 1804], (1, 2)])
def test_a_row_that_is_not_a_mapping_gets_a_row_level_error(
    validate: Any, row: Any
) -> None:
    result = validate([EXAMPLE_HOUSE, row])
    assert result.valid_indices == [0]
    [error] = result.errors
    assert (error["row"], error["field"]) == (1, ROW_LEVEL)
    assert type(row).__name__ in error["message"]


def test_a_clean_record_has_exactly_the_model_features_in_order(
    validate: Any, config: AppConfig
) -> None:
    result = validate([{**EXAMPLE_HOUSE, "Id": 10, "Street": "Pave"}])
    [record] = result.records
    assert record is not None
    assert list(record) == config.model.features
    assert record["GrLivArea"] == 1804.0
    assert record["OverallQual"] == 7
    assert result.imputed == [[]]


def test_missing_optional_fields_are_listed_as_imputed(
    validate: Any, config: AppConfig
) -> None:
    # Given a row with one field absent, one "NA", one NaN and one empty text
    row = {**EXAMPLE_HOUSE, "FireplaceQu": "NA", "GarageCars": float("nan")}
    row["MSZoning"] = ""
    del row["TotalBsmtSF"]
    # When validated, Then it is clean and those fields, in feature order, are imputed
    result = validate([row])
    assert result.errors == []
    expected = [
        name
        for name in config.model.features
        if name in {"FireplaceQu", "GarageCars", "MSZoning", "TotalBsmtSF"}
    ]
    assert result.imputed == [expected]


def test_a_minimal_row_imputes_everything_but_the_required_fields(
    validate: Any, config: AppConfig
) -> None:
    row = {"GrLivArea": 1000, "OverallQual": 5, "Neighborhood": "names"}
    result = validate([row])
    assert result.errors == []
    required = set(config.model.required_features)
    assert result.imputed == [[n for n in config.model.features if n not in required]]


def test_an_empty_batch_validates_to_nothing(validate: Any) -> None:
    result = validate([])
    assert (result.records, result.imputed, result.errors) == ([], [], [])


def test_rows_from_input_reads_a_dataframe_row_by_row() -> None:
    frame = pd.DataFrame({"GrLivArea": [1804, 900], "Neighborhood": ["NAmes", np.nan]})
    rows = rows_from_input(frame)
    assert rows[0] == {"GrLivArea": 1804, "Neighborhood": "NAmes"}
    assert len(rows) == 2
    assert np.isnan(rows[1]["Neighborhood"])


def test_rows_from_input_accepts_any_iterable_of_rows() -> None:
    def generate() -> Iterator[dict[str, Any]]:
        yield {"GrLivArea": 1}
        yield {"GrLivArea": 2}

    assert rows_from_input(generate()) == [{"GrLivArea": 1}, {"GrLivArea": 2}]
    assert rows_from_input(({"a": 1},)) == [{"a": 1}]


@pytest.mark.parametrize("data", [EXAMPLE_HOUSE, "GrLivArea=1804", b"{}"], ids=repr)
def test_rows_from_input_rejects_a_single_mapping_or_text(data: Any) -> None:
    with pytest.raises(TypeError, match=type(data).__name__):
        rows_from_input(data)


# --- the plain path gives exactly what the schema gives ----------------------

TRICKY_LABELS: list[Any] = [
    " gd ", "gD", "NA", "na ", "", "  ", "Nowhere", "x" * 40, 3, 2.5, True,
    float("inf"), np.str_("Gd"), pd.NA, [1], {"a": 1}, b"Gd",
]  # fmt: skip
TRICKY_NUMBERS: list[Any] = [
    0, 0.0, -0.0, -1, -1e-9, 7.5, 7.0, 60.0, 1e308, float("inf"), float("-inf"),
    10**400, -(10**400), 2**53 + 1, True, False, "12", " 12 ", "abc", "NA", "",
    "1" * 40, np.int64(5), np.float64(5.5), np.float32(3.0), pd.NA, [1], None,
    100_000, 100_000.5, 1800, 2100, 2101, 1799.0, 20, 21, 50, 10, 11, 1,
]  # fmt: skip
TRICKY_CODES: list[Any] = [60.0, "60", " 60 ", 25, 60.5, True, np.int64(60), "abc", 0]


def _plain_value(rng: np.random.Generator, field: Any) -> Any:
    """A value the plain path accepts as it is (or as missing)."""
    roll = rng.random()
    if roll < 0.08:
        return None if roll < 0.04 else float("nan")
    if field.kind in {"label", "code"}:
        return sorted(field.vocabulary, key=str)[rng.integers(len(field.vocabulary))]
    low = max(field.bounds.lower, 0)
    value = float(rng.uniform(low, min(field.bounds.upper, low + 5_000)))
    if field.kind == "count" or rng.random() < 0.5:
        return min(max(round(value), int(field.bounds.lower) + 1), field.bounds.upper)
    return value


def _tricky_value(rng: np.random.Generator, field: Any, only_numbers: bool) -> Any:
    pool = {"label": TRICKY_LABELS, "code": TRICKY_CODES + TRICKY_NUMBERS}.get(
        field.kind, TRICKY_NUMBERS
    )
    if only_numbers:  # keeps a column on its NumPy path
        pool = [value for value in pool if type(value) in {int, float}]
    return pool[rng.integers(len(pool))]


def _random_batch(rng: np.random.Generator, size: int) -> list[Any]:
    """Rows that are mostly plain, with tricky values in a few columns."""
    from regression_model.processing.validation import PLAIN_FIELDS

    assert PLAIN_FIELDS is not None
    tricky = {f.output for f in PLAIN_FIELDS if rng.random() < 0.25}
    only_numbers = rng.random() < 0.5
    rows: list[Any] = []
    for _ in range(size):
        row: dict[str, Any] = {"Id": 1, "Street": "Pave"}
        for field in PLAIN_FIELDS:
            roll = rng.random()
            if roll < 0.05:
                continue  # absent
            if field.output in tricky and roll < 0.2:
                row[field.key] = _tricky_value(rng, field, only_numbers)
            else:
                row[field.key] = _plain_value(rng, field)
        if rng.random() < 0.03 and "1stFlrSF" in row:
            row["FirstFlrSF"] = row.pop("1stFlrSF")
        if rng.random() < 0.02:
            row["SecondFlrSF"] = 500
        rows.append(row)
    if size > 2:
        rows[rng.integers(size)] = ["not", "a", "row"]
    return rows


def _typed(value: Any) -> Any:
    return (type(value), value)


def _expected(rows: Sequence[Any], config: AppConfig) -> dict[str, Any]:
    """Row by row through ``HouseFeatures`` alone: the reference."""
    from regression_model.processing.validation import _validate_with_schema

    features = config.model.features
    records: list[Any] = []
    imputed: list[list[str]] = []
    errors: list[RowError] = []
    for index, row in enumerate(rows):
        values, row_errors = _validate_with_schema(
            index, row, features, config.model.required_features
        )
        errors.extend(row_errors)
        records.append(
            None if values is None else dict(zip(features, values, strict=True))
        )
        imputed.append(
            []
            if values is None
            else [n for n, v in zip(features, values, strict=True) if v is None]
        )
    return {"records": records, "imputed": imputed, "errors": errors}


@pytest.mark.parametrize(
    ("size", "batches"),
    [(1, 150), (5, 60), (COLUMN_WISE_ROWS - 1, 12), (COLUMN_WISE_ROWS, 12), (400, 4)],
)
def test_plain_path_gives_exactly_what_the_schema_gives(
    validate: Any, config: AppConfig, size: int, batches: int
) -> None:
    # Given batches of mostly plain rows with tricky values (both batch sizes:
    # row by row below COLUMN_WISE_ROWS, column by column above)
    rng = np.random.default_rng(size)
    for _ in range(batches):
        rows = _random_batch(rng, size)
        # When validated in one batch
        result = validate(rows)
        # Then every record, value type, imputation and error equals the schema's
        expected = _expected(rows, config)
        assert [
            None if r is None else {k: _typed(v) for k, v in r.items()}
            for r in result.records
        ] == [
            None if r is None else {k: _typed(v) for k, v in r.items()}
            for r in expected["records"]
        ]
        assert result.imputed == expected["imputed"]
        assert result.errors == expected["errors"]
        assert result.valid_indices == [
            i for i, r in enumerate(expected["records"]) if r is not None
        ]


def test_every_field_of_the_schema_has_a_plain_check() -> None:
    # Otherwise every row silently takes the slow path.
    from regression_model.processing.schema import HouseFeatures
    from regression_model.processing.validation import PLAIN_FIELDS

    assert PLAIN_FIELDS is not None
    assert len(PLAIN_FIELDS) == len(HouseFeatures.model_fields)


def test_a_schema_with_rules_the_plain_check_does_not_know_gets_none() -> None:
    from pydantic import BaseModel, field_validator

    from regression_model.processing.schema import Count
    from regression_model.processing.validation import plain_fields

    class WithValidator(BaseModel):
        rooms: Count = None

        @field_validator("rooms")
        @classmethod
        def _even(cls, value: int | None) -> int | None:
            return value

    class Forbidding(BaseModel, extra="forbid"):
        rooms: Count = None

    class Unbounded(BaseModel):
        rooms: Count = None

    assert plain_fields(WithValidator) is None
    assert plain_fields(Forbidding) is None
    assert plain_fields(Unbounded) is None
