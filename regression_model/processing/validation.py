"""Per-row input validation: every row ends up clean or with named errors.

A batch is never rejected as a whole and a row is never dropped silently:
each input row either becomes a clean record of model features (with the
list of fields that will be imputed) or gets one error per offending field.
All of this runs before the pipeline, where a bad value would otherwise
surface as an unnamed ``Input X contains NaN`` or ``TypeError``.

``HouseFeatures`` decides. Rows whose values are all *plain* (see
``plain_checks``) are taken in bulk by ``plain_batch`` without a call into
pydantic, giving exactly what pydantic gives them; every other row goes
through ``HouseFeatures`` here, so every error keeps pydantic's words. The
checks pydantic cannot make on one field (a required feature missing, one
field given under two names with different values) are made here, once,
for both kinds of row.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import ValidationError

from regression_model.processing.plain_batch import (
    PlainBatch,
    PlainSplitter,
    imputed_fields,
    merge_columns,
)
from regression_model.processing.plain_checks import plain_fields
from regression_model.processing.schema import HouseFeatures, is_missing, row_keys

if TYPE_CHECKING:
    import pandas as pd

FIELD_ALIASES = {
    name: info.serialization_alias or name
    for name, info in HouseFeatures.model_fields.items()
}
# Fields a row may spell more than one way: (Kaggle name, every accepted key).
SPELLINGS = [
    (FIELD_ALIASES[name], keys)
    for name, info in HouseFeatures.model_fields.items()
    if (keys := row_keys(name, info)) is not None and len(keys) > 1
]
ROW_LEVEL = "__row__"
MAX_SHOWN = 40
REQUIRED_MESSAGE = "required: a price cannot be estimated without it"
# Batches of at least this many rows are checked a column at a time.
COLUMN_WISE_ROWS = 48
PLAIN_FIELDS = plain_fields(HouseFeatures)
_SPLITTER = (
    None if PLAIN_FIELDS is None else PlainSplitter(PLAIN_FIELDS, COLUMN_WISE_ROWS)
)


class RowError(TypedDict):
    """One problem with one input row: which row, which field, what is wrong."""

    row: int
    field: str
    message: str


@dataclass
class ValidatedRows:
    """The outcome of validating a batch, one entry per input row.

    ``valid_indices`` are the rows without errors, in input order, and
    ``columns[name]`` holds feature ``name``'s clean values for exactly those
    rows (Kaggle names, ``None`` where missing): the scorer's input, kept as
    columns so that no per-row record is built on the way. ``imputed[i]``
    lists the fields that will be imputed for row ``i`` (empty for a row
    with errors); ``errors`` are in row order.
    """

    features: list[str]
    valid_indices: list[int]
    columns: dict[str, list[Any]]
    imputed: list[list[str]]
    errors: list[RowError] = field(default_factory=list)

    def valid_records(self) -> list[dict[str, Any]]:
        """One clean record (feature -> value) per valid row, in input order."""
        if not self.features:
            return [{} for _ in self.valid_indices]
        names = self.features
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*(self.columns[name] for name in names), strict=True)
        ]

    @cached_property
    def records(self) -> list[dict[str, Any] | None]:
        """Row ``i``'s clean record, or ``None`` when row ``i`` has errors."""
        records: list[dict[str, Any] | None] = [None] * len(self.imputed)
        for index, record in zip(self.valid_indices, self.valid_records(), strict=True):
            records[index] = record
        return records


def rows_from_input(input_data: pd.DataFrame | Iterable[Any]) -> list[Any]:
    """Turn a DataFrame or an iterable of mappings into a list of rows."""
    pandas = sys.modules.get("pandas")  # a DataFrame exists only if pandas is loaded
    if pandas is not None and isinstance(input_data, pandas.DataFrame):
        return list(input_data.to_dict(orient="records"))
    if isinstance(input_data, (str, bytes, Mapping)):
        raise TypeError(
            "input_data must be a DataFrame or a list of row mappings, "
            f"not a single {type(input_data).__name__}"
        )
    return list(input_data)


def validate_rows(
    rows: Sequence[Any], features: Sequence[str], required: Sequence[str]
) -> ValidatedRows:
    """Validate each row against the schema and the required features."""
    features = list(features)
    if _SPLITTER is None:
        plain, schema_rows = PlainBatch([], {}), list(range(len(rows)))
    else:
        plain, schema_rows = _SPLITTER.split(rows)
    errors_of: dict[int, list[RowError]] = {}
    plain = _without_missing_required(plain, rows, required, errors_of)
    checked: list[tuple[int, list[Any]]] = []
    for index in schema_rows:
        values, errors = _validate_with_schema(index, rows[index], features, required)
        if errors:
            errors_of[index] = errors
        else:
            assert values is not None
            checked.append((index, values))
    valid_indices, columns = merge_columns(plain, checked, features)
    missing = plain.missing
    if checked:
        missing = missing.union(
            name
            for position, name in enumerate(features)
            if any(values[position] is None for _, values in checked)
        )
    maybe_missing = [
        name for name in features if name in missing or name not in plain.values
    ]
    return ValidatedRows(
        features=features,
        valid_indices=valid_indices,
        columns=columns,
        imputed=imputed_fields(len(rows), valid_indices, columns, maybe_missing),
        errors=[error for index in sorted(errors_of) for error in errors_of[index]],
    )


def required_errors(
    index: int, row: Mapping[Any, Any], required: Iterable[str]
) -> list[RowError]:
    """One error per ``required`` field that ``row`` leaves missing (in any spelling)."""
    return [
        RowError(row=index, field=name, message=REQUIRED_MESSAGE)
        for name in required
        if is_missing(row.get(name))
    ]


def _without_missing_required(
    plain: PlainBatch,
    rows: Sequence[Any],
    required: Sequence[str],
    errors_of: dict[int, list[RowError]],
) -> PlainBatch:
    """Plain rows lacking a required field get that error and leave the batch."""
    if not required or not plain.indices:
        return plain
    refused = set()
    for position, index in enumerate(plain.indices):
        errors = required_errors(index, rows[index], required)
        if errors:
            errors_of[index] = errors
            refused.add(position)
    if not refused:
        return plain
    return plain.taking([p for p in range(len(plain.indices)) if p not in refused])


def _validate_with_schema(
    index: int, row: Any, features: Sequence[str], required: Sequence[str]
) -> tuple[list[Any] | None, list[RowError]]:
    """One row through ``HouseFeatures``: its feature values, or its errors."""
    if not isinstance(row, Mapping):
        message = f"a row must be an object of fields, not {type(row).__name__}"
        return None, [RowError(row=index, field=ROW_LEVEL, message=message)]
    conflicts = _spelling_conflicts(index, row)
    house, errors = _validate_row(index, row)
    if conflicts:
        conflicted = {error["field"] for error in conflicts}
        errors = [*conflicts, *(e for e in errors if e["field"] not in conflicted)]
    flagged = {error["field"] for error in errors}
    errors += required_errors(index, row, (n for n in required if n not in flagged))
    if errors or house is None:
        return None, errors
    clean = house.model_dump(by_alias=True)
    return [clean.get(name) for name in features], errors


def _validate_row(
    index: int, row: Mapping[Any, Any]
) -> tuple[HouseFeatures | None, list[RowError]]:
    try:
        return HouseFeatures.model_validate(row), []
    except ValidationError as error:
        return None, [
            RowError(
                row=index, field=_field_of(detail["loc"]), message=_message_of(detail)
            )
            for detail in error.errors(include_url=False)
        ]


def _spelling_conflicts(index: int, row: Mapping[Any, Any]) -> list[RowError]:
    """An error per field given under two of its names with different values.

    Pydantic would silently read the first name; a client that sends both
    ``1stFlrSF`` and ``FirstFlrSF`` disagreeing has a bug worth naming.
    """
    errors = []
    for output, keys in SPELLINGS:
        given = [(key, row[key]) for key in keys if key in row]
        if len(given) > 1 and not all(_same(given[0][1], v) for _, v in given[1:]):
            spelled = ", ".join(f"{key!r} = {_shown(value)}" for key, value in given)
            errors.append(
                RowError(
                    row=index,
                    field=output,
                    message=f"given under two names with different values ({spelled}); "
                    "send one",
                )
            )
    return errors


def _same(left: Any, right: Any) -> bool:
    """Whether two spellings of a field agree: equal, or both missing."""
    if is_missing(left) and is_missing(right):
        return True
    try:
        return bool(left == right)
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise
        return False


def _field_of(location: tuple[int | str, ...]) -> str:
    if not location:
        return ROW_LEVEL
    name = str(location[0])
    return FIELD_ALIASES.get(name, name)


def _shown(value: Any) -> str:
    """``repr(value)``, shortened past ``MAX_SHOWN`` characters."""
    shown = repr(value)
    if len(shown) > MAX_SHOWN:
        shown = f"{shown[: MAX_SHOWN - 3]}... ({len(str(value))} characters)"
    return shown


def _message_of(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, (str, int, float)) and not isinstance(given, bool):
        message = f"{message} (got {_shown(given)})"
    return message
