"""Per-row input validation: every row ends up clean or with named errors.

A batch is never rejected as a whole and a row is never dropped silently:
each input row either becomes a clean record of model features (with the
list of fields that will be imputed) or gets one error per offending field.
All of this runs before the pipeline, where a bad value would otherwise
surface as an unnamed ``Input X contains NaN`` or ``TypeError``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import ValidationError

from regression_model.processing.schema import HouseFeatures, is_missing

if TYPE_CHECKING:
    import pandas as pd

FIELD_ALIASES = {
    name: info.serialization_alias or name
    for name, info in HouseFeatures.model_fields.items()
}
ROW_LEVEL = "__row__"
MAX_SHOWN = 40
REQUIRED_MESSAGE = "required: a price cannot be estimated without it"


class RowError(TypedDict):
    """One problem with one input row: which row, which field, what is wrong."""

    row: int
    field: str
    message: str


@dataclass
class ValidatedRows:
    """The outcome of validating a batch, one entry per input row.

    ``records[i]`` is the clean record for row ``i`` (Kaggle names, model
    features only, ``None`` where missing) or ``None`` when row ``i`` has
    errors; ``imputed[i]`` lists the fields that will be imputed for it.
    """

    records: list[dict[str, Any] | None] = field(default_factory=list)
    imputed: list[list[str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def valid_indices(self) -> list[int]:
        return [index for index, record in enumerate(self.records) if record is not None]


def _field_of(location: tuple[int | str, ...]) -> str:
    if not location:
        return ROW_LEVEL
    name = str(location[0])
    return FIELD_ALIASES.get(name, name)


def _message_of(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, (str, int, float)) and not isinstance(given, bool):
        shown = repr(given)
        if len(shown) > MAX_SHOWN:
            shown = f"{shown[: MAX_SHOWN - 3]}... ({len(str(given))} characters)"
        message = f"{message} (got {shown})"
    return message


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
    result = ValidatedRows()
    for index, row in enumerate(rows):
        house, errors = _validate_row(index, row)
        record: dict[str, Any] | None = None
        if house is not None:
            clean = house.model_dump(by_alias=True)
            record = {name: clean.get(name) for name in features}
        if isinstance(row, Mapping):
            flagged = {error["field"] for error in errors}
            errors.extend(
                RowError(row=index, field=name, message=REQUIRED_MESSAGE)
                for name in required
                if name not in flagged and is_missing(row.get(name))
            )
        if errors:
            result.records.append(None)
            result.imputed.append([])
            result.errors.extend(errors)
        else:
            assert record is not None
            result.records.append(record)
            result.imputed.append([name for name in features if record[name] is None])
    return result


def _validate_row(index: int, row: Any) -> tuple[HouseFeatures | None, list[RowError]]:
    if not isinstance(row, Mapping):
        message = f"a row must be an object of fields, not {type(row).__name__}"
        return None, [RowError(row=index, field=ROW_LEVEL, message=message)]
    try:
        return HouseFeatures.model_validate(row), []
    except ValidationError as error:
        return None, [
            RowError(
                row=index, field=_field_of(detail["loc"]), message=_message_of(detail)
            )
            for detail in error.errors(include_url=False)
        ]
