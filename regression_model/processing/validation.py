"""Per-row input validation: every row ends up clean or with named errors.

A batch is never rejected as a whole and a row is never dropped silently:
each input row either becomes a clean record of model features (with the
list of fields that will be imputed) or gets one error per offending field.
All of this runs before the pipeline, where a bad value would otherwise
surface as an unnamed ``Input X contains NaN`` or ``TypeError``.

Speed without a second schema: ``HouseFeatures`` decides, but its
before-validators are Python calls, one per field and row, and they were
most of the cost of a prediction. Nearly every value that arrives is already
in its final form (an exact label, a finite number in range, ``null``), so
each field also gets a *plain check*, derived from the schema itself (its
labels, bounds and validators, see ``plain_fields``), that accepts only such
values and gives exactly what pydantic gives for them. A row whose values
are all plain is clean without pydantic; any other row is validated by
``HouseFeatures`` as before, so every error keeps pydantic's words. Small
batches are checked row by row, large ones a column at a time (sets and
NumPy). A field or setting the plain check does not understand sends every
row through pydantic: slower, never different.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from math import isnan
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, get_args

import numpy as np
from annotated_types import Ge, Gt, Le, Lt
from pydantic import AliasChoices, BaseModel, BeforeValidator, ValidationError

from regression_model.processing.schema import (
    MAX_LABEL_LENGTH,
    HouseFeatures,
    LenientLabel,
    is_missing,
    normalise_building_class,
    normalise_number,
)

if TYPE_CHECKING:
    import pandas as pd

FIELD_ALIASES = {
    name: info.serialization_alias or name
    for name, info in HouseFeatures.model_fields.items()
}
ROW_LEVEL = "__row__"
MAX_SHOWN = 40
REQUIRED_MESSAGE = "required: a price cannot be estimated without it"
# Batches of at least this many rows are checked a column at a time.
COLUMN_WISE_ROWS = 48


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


# --- plain checks: the schema's commonest values, recognised without pydantic ---

NOT_PLAIN: Final = object()
NoneType = type(None)
# Bounds are checked on float64 copies of the values, exact up to 2**53.
EXACT_INTEGERS = 2**53
PlainKind = Literal["label", "code", "number", "count"]
# Model settings under which a plain value means what it means by default.
PLAIN_SAFE_CONFIG: dict[str, set[Any]] = {
    "extra": {"ignore"},
    "allow_inf_nan": {False, True},
    "populate_by_name": {False, True},
    "validate_by_name": {False, True},
    "validate_by_alias": {True},
    "frozen": {False, True},
}


@dataclass(frozen=True)
class Bounds:
    """A number field's range, both ends included: ``gt=0`` is ``>= 5e-324``.

    For any float or int ``x``, ``x > a`` exactly when ``x >= nextafter(a, inf)``,
    so one comparison form serves every bound. Plain only when both ends are
    finite, so an infinity never fits.
    """

    lower: float = -math.inf
    upper: float = math.inf

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Whether each element lies within (NaN: no)."""
        result: np.ndarray = (values >= self.lower) & (values <= self.upper)
        return result


@dataclass(frozen=True)
class PlainField:
    """One schema field's plain values and the clean value pydantic gives each.

    ``key`` is the row key pydantic reads first; a row holding any of
    ``other_keys`` (another accepted spelling) takes pydantic's path.
    ``accept`` returns the clean value, or ``NOT_PLAIN`` when pydantic must
    decide. A label field keeps its ``LenientLabel``: text that is not an
    exact label goes through that same function, as in pydantic.
    """

    output: str
    key: str
    other_keys: tuple[str, ...]
    kind: PlainKind
    vocabulary: frozenset[Any] = frozenset()
    bounds: Bounds = Bounds()
    lenient: LenientLabel | None = None

    @cached_property
    def accept(self) -> Callable[[Any], Any]:
        return _ACCEPTORS[self.kind](self)


def _accept_label(plain: PlainField) -> Callable[[Any], Any]:
    vocabulary = plain.vocabulary
    lenient = plain.lenient
    assert lenient is not None

    def accept(value: Any) -> Any:
        if type(value) is str:
            if value in vocabulary:
                return value
            try:  # other case, blanks, "NA": what pydantic's before-validator gives
                label = lenient(value)
            except ValueError:
                return NOT_PLAIN
            return label if label is None or label in vocabulary else NOT_PLAIN
        if value is None or (type(value) is float and isnan(value)):
            return None
        return NOT_PLAIN

    return accept


def _accept_code(plain: PlainField) -> Callable[[Any], Any]:
    vocabulary = plain.vocabulary

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if value in vocabulary else NOT_PLAIN
        if value is None or (kind is float and isnan(value)):
            return None
        if kind is float and value.is_integer() and int(value) in vocabulary:
            return int(value)
        return NOT_PLAIN

    return accept


def _accept_number(plain: PlainField) -> Callable[[Any], Any]:
    lower, upper = plain.bounds.lower, plain.bounds.upper

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is float:
            if lower <= value <= upper:
                return value
            return None if isnan(value) else NOT_PLAIN
        if kind is int:
            return float(value) if lower <= value <= upper else NOT_PLAIN
        return None if value is None else NOT_PLAIN

    return accept


def _accept_count(plain: PlainField) -> Callable[[Any], Any]:
    lower, upper = plain.bounds.lower, plain.bounds.upper

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if lower <= value <= upper else NOT_PLAIN
        if value is None or (kind is float and isnan(value)):
            return None
        if kind is float and value.is_integer() and lower <= value <= upper:
            return int(value)
        return NOT_PLAIN

    return accept


_ACCEPTORS: dict[PlainKind, Callable[[PlainField], Callable[[Any], Any]]] = {
    "label": _accept_label,
    "code": _accept_code,
    "number": _accept_number,
    "count": _accept_count,
}


def _row_keys(name: str, alias: Any) -> tuple[str, ...] | None:
    """The keys pydantic reads a field from, the one it tries first first."""
    if alias is None:
        return (name,)
    if isinstance(alias, str):
        return (alias, name) if alias != name else (name,)
    if isinstance(alias, AliasChoices) and all(
        isinstance(choice, str) for choice in alias.choices
    ):
        return tuple(dict.fromkeys([*(str(c) for c in alias.choices), name]))
    return None


def _plain_field(name: str, info: Any) -> PlainField | None:
    """The plain check of one field, or ``None`` if its validation is not understood."""
    keys = _row_keys(name, info.validation_alias or info.alias)
    if keys is None or info.default is not None or info.default_factory or info.exclude:
        return None
    befores = [item for item in info.metadata if isinstance(item, BeforeValidator)]
    limits = [item for item in info.metadata if isinstance(item, (Gt, Ge, Lt, Le))]
    choices = [arg for arg in get_args(info.annotation) if arg is not NoneType]
    if (
        len(befores) != 1
        or len(befores) + len(limits) != len(info.metadata)
        or len(choices) != 1
        or NoneType not in get_args(info.annotation)
    ):
        return None
    rule = _plain_rule(befores[0].func, choices[0], limits)
    if rule is None:
        return None
    kind, vocabulary, bounds = rule
    validator = befores[0].func
    return PlainField(
        output=info.serialization_alias or info.alias or name,
        key=keys[0],
        other_keys=keys[1:],
        kind=kind,
        vocabulary=vocabulary,
        bounds=bounds,
        lenient=validator if isinstance(validator, LenientLabel) else None,
    )


PlainRule = tuple[PlainKind, frozenset[Any], Bounds]


def _plain_rule(validator: Any, annotation: Any, limits: list[Any]) -> PlainRule | None:
    """What a plain value of a field with this before-validator and type looks like."""
    if isinstance(validator, LenientLabel) and not limits:
        return _label_rule(validator, get_args(annotation))
    if validator is normalise_building_class and not limits:
        codes = get_args(annotation)
        if codes and all(type(code) is int for code in codes):
            return "code", frozenset(codes), Bounds()
        return None
    if validator is normalise_number and annotation in (float, int):
        return _number_rule(annotation, limits)
    return None


def _label_rule(validator: LenientLabel, labels: tuple[Any, ...]) -> PlainRule | None:
    """Labels the validator returns unchanged are plain as they are."""
    if set(labels) != set(validator.labels):
        return None
    exact = frozenset(
        label
        for label in labels
        if isinstance(label, str)
        and len(label) <= MAX_LABEL_LENGTH
        and validator(label) == label
    )
    return "label", exact, Bounds()


def _number_rule(annotation: Any, limits: list[Any]) -> PlainRule | None:
    """Numbers within both (finite, exactly representable) bounds are plain."""
    lower, upper = -math.inf, math.inf
    for limit in limits:
        value = getattr(limit, type(limit).__name__.lower())
        if type(value) not in (int, float) or float(value) != value:
            return None
        if isinstance(limit, Ge):
            lower = max(lower, float(value))
        elif isinstance(limit, Gt):
            lower = max(lower, math.nextafter(float(value), math.inf))
        elif isinstance(limit, Le):
            upper = min(upper, float(value))
        else:
            upper = min(upper, math.nextafter(float(value), -math.inf))
    if not max(abs(lower), abs(upper)) <= EXACT_INTEGERS:
        return None
    return (
        ("number" if annotation is float else "count"),
        frozenset(),
        Bounds(lower, upper),
    )


def plain_fields(model: type[BaseModel]) -> tuple[PlainField, ...] | None:
    """Every field's plain check, or ``None`` if any part of ``model`` is not understood.

    Understood: fields defaulting to ``None`` whose one before-validator is
    one of ``schema``'s (lenient labels, building class, numbers), with
    ``gt``/``ge``/``lt``/``le`` bounds at most; no field or model validators;
    model settings that leave plain values alone (``PLAIN_SAFE_CONFIG``).
    """
    decorators = model.__pydantic_decorators__
    if (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
    ):
        return None
    config: dict[str, Any] = dict(model.model_config)
    for setting, value in config.items():
        if setting in {"json_schema_extra", "title"}:
            continue
        if setting == "str_max_length":
            if value is not None and value < MAX_LABEL_LENGTH:
                return None
            continue
        if value not in PLAIN_SAFE_CONFIG.get(setting, ()):
            return None
    fields = []
    for name, info in model.model_fields.items():
        plain = _plain_field(name, info)
        if plain is None:
            return None
        fields.append(plain)
    return tuple(fields)


PLAIN_FIELDS = plain_fields(HouseFeatures)
# Read once, not per row: each field's first key and check, the spellings that
# send a row to pydantic, and which field each first key belongs to.
_READERS = [(plain.key, plain.accept) for plain in PLAIN_FIELDS or ()]
_OTHER_KEYS = tuple(key for plain in PLAIN_FIELDS or () for key in plain.other_keys)
_OUTPUT_OF_KEY = {plain.key: plain.output for plain in PLAIN_FIELDS or ()}
_OUTPUTS = [plain.output for plain in PLAIN_FIELDS or ()]


# --- a batch: plain rows in bulk, the rest through pydantic one by one -------


@dataclass
class _PlainBatch:
    """The plain rows of a batch: row indices and each field's clean values.

    ``missing`` names every field whose column may hold ``None`` (a superset:
    the others certainly hold none), so that finding what to impute need not
    scan every column.
    """

    indices: list[int]
    values: dict[str, list[Any]]
    missing: set[str] = field(default_factory=set)

    def taking(self, positions: list[int]) -> _PlainBatch:
        """The batch with only the rows at ``positions``."""
        return _PlainBatch(
            [self.indices[p] for p in positions],
            {
                name: list(map(column.__getitem__, positions))
                for name, column in self.values.items()
            },
            self.missing,
        )


def validate_rows(
    rows: Sequence[Any], features: Sequence[str], required: Sequence[str]
) -> ValidatedRows:
    """Validate each row against the schema and the required features."""
    features = list(features)
    plain, schema_rows = _split_plain(rows)
    errors_of: dict[int, list[RowError]] = {}
    plain = _drop_missing_required(plain, rows, required, errors_of)
    checked: list[tuple[int, list[Any]]] = []
    for index in schema_rows:
        values, errors = _validate_with_schema(index, rows[index], features, required)
        if errors:
            errors_of[index] = errors
        else:
            assert values is not None
            checked.append((index, values))
    valid_indices, columns = _merge(plain, checked, features)
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
        imputed=_imputed(len(rows), valid_indices, columns, maybe_missing),
        errors=[error for index in sorted(errors_of) for error in errors_of[index]],
    )


def _split_plain(rows: Sequence[Any]) -> tuple[_PlainBatch, list[int]]:
    """The rows whose values are all plain, and the indices of the others."""
    fields = PLAIN_FIELDS
    if fields is None:
        return _PlainBatch([], {}), list(range(len(rows)))
    candidates = [
        index
        for index, row in enumerate(rows)
        if type(row) is dict and row.keys().isdisjoint(_OTHER_KEYS)
    ]
    if len(candidates) < COLUMN_WISE_ROWS:
        return _split_plain_by_row(rows, candidates, fields)
    return _split_plain_by_column(rows, candidates, fields)


def _split_plain_by_row(
    rows: Sequence[Any], candidates: list[int], fields: tuple[PlainField, ...]
) -> tuple[_PlainBatch, list[int]]:
    plain_rows: list[int] = []
    plain_values: list[list[Any]] = []
    others = (
        []
        if len(candidates) == len(rows)
        else sorted(set(range(len(rows))).difference(candidates))
    )
    for index in candidates:
        get = rows[index].get
        values = [accept(get(key)) for key, accept in _READERS]
        if NOT_PLAIN in values:
            others.append(index)
        else:
            plain_rows.append(index)
            plain_values.append(values)
    if plain_values:
        columns = list(map(list, zip(*plain_values, strict=True)))
    else:
        columns = [[] for _ in fields]
    by_output = dict(zip(_OUTPUTS, columns, strict=True))
    missing = {name for name, column in by_output.items() if None in column}
    return _PlainBatch(plain_rows, by_output, missing), sorted(others)


def _split_plain_by_column(
    rows: Sequence[Any], candidates: list[int], fields: tuple[PlainField, ...]
) -> tuple[_PlainBatch, list[int]]:
    candidate_rows = [rows[index] for index in candidates]
    values: dict[str, list[Any]] = {}
    missing: set[str] = set()
    refused: set[int] = set()
    for plain in fields:
        column = list(map(dict.get, candidate_rows, repeat(plain.key)))
        values[plain.output], not_plain, has_missing = _plain_column(plain, column)
        refused.update(not_plain)
        if has_missing:
            missing.add(plain.output)
    batch = _PlainBatch(candidates, values, missing)
    if not refused:
        return batch, sorted(set(range(len(rows))).difference(candidates))
    others = set(range(len(rows))).difference(candidates)
    others.update(candidates[position] for position in refused)
    keep = [p for p in range(len(candidates)) if p not in refused]
    return batch.taking(keep), sorted(others)


def _plain_column(
    plain: PlainField, column: list[Any]
) -> tuple[list[Any], list[int], bool]:
    """A column's clean values, its positions that are not plain, whether any is missing.

    Each shortcut gives what ``plain.accept`` gives element by element.
    """
    kinds = set(map(type, column))
    if plain.kind in {"label", "code"}:
        exact = str if plain.kind == "label" else int
        if kinds <= {exact, NoneType}:
            values = set(column)
            if values <= plain.vocabulary | {None}:
                return column, [], None in values
    elif kinds <= {float, int, NoneType}:
        try:
            numbers = np.array(column, dtype=np.float64)
        except (OverflowError, ValueError, TypeError):
            pass
        else:
            return _number_column(plain, numbers)
    clean = list(map(plain.accept, column))
    return clean, [p for p, value in enumerate(clean) if value is NOT_PLAIN], True


def _number_column(
    plain: PlainField, numbers: np.ndarray
) -> tuple[list[Any], list[int], bool]:
    missing = np.isnan(numbers)
    fits = plain.bounds.mask(numbers)
    if plain.kind == "count":
        fits &= numbers == np.trunc(np.where(fits, numbers, 0.0))
        clean: list[Any] = np.where(fits, numbers, 0.0).astype(np.int64).tolist()
    else:
        clean = numbers.tolist()
    missing_at = np.flatnonzero(missing).tolist()
    for position in missing_at:
        clean[position] = None
    return clean, np.flatnonzero(~(missing | fits)).tolist(), bool(missing_at)


def _drop_missing_required(
    plain: _PlainBatch,
    rows: Sequence[Any],
    required: Sequence[str],
    errors_of: dict[int, list[RowError]],
) -> _PlainBatch:
    """Plain rows lacking a required field get that error and leave the batch.

    A plain value is missing exactly when its clean value is ``None``, so
    that is read from the clean column where the required name is the key
    the field is read from; otherwise from the row, as ``_validate_with_schema``
    does.
    """
    if not required or not plain.indices:
        return plain
    missing_at: dict[int, list[str]] = {}
    for name in required:
        if name in _OUTPUT_OF_KEY:
            column = plain.values[_OUTPUT_OF_KEY[name]]
            positions = [p for p, value in enumerate(column) if value is None]
        else:
            positions = [
                p
                for p, index in enumerate(plain.indices)
                if is_missing(rows[index].get(name))
            ]
        for position in positions:
            missing_at.setdefault(position, []).append(name)
    if not missing_at:
        return plain
    for position, names in missing_at.items():
        errors_of[plain.indices[position]] = [
            RowError(row=plain.indices[position], field=name, message=REQUIRED_MESSAGE)
            for name in names
        ]
    return plain.taking([p for p in range(len(plain.indices)) if p not in missing_at])


def _merge(
    plain: _PlainBatch, checked: list[tuple[int, list[Any]]], features: list[str]
) -> tuple[list[int], dict[str, list[Any]]]:
    """Valid rows in input order, and each feature's column over them."""
    none = [None] * len(plain.indices)
    plain_columns = [plain.values.get(name, none) for name in features]
    if not checked:
        return plain.indices, dict(zip(features, plain_columns, strict=True))
    slow_columns = (
        list(zip(*(values for _, values in checked), strict=True)) if features else []
    )
    sources = [(index, position) for position, index in enumerate(plain.indices)]
    offset = len(plain.indices)
    sources += [(index, offset + k) for k, (index, _) in enumerate(checked)]
    sources.sort()
    take = [position for _, position in sources]
    columns = {}
    for name, fast, slow in zip(features, plain_columns, slow_columns, strict=True):
        both = [*fast, *slow]
        columns[name] = list(map(both.__getitem__, take))
    return [index for index, _ in sources], columns


def _imputed(
    size: int,
    valid_indices: list[int],
    columns: dict[str, list[Any]],
    maybe_missing: list[str],
) -> list[list[str]]:
    """Per input row, the features that are missing (and will be imputed), in order.

    ``maybe_missing`` are the features, in order, whose columns may hold ``None``.
    """
    imputed: list[list[str]] = [[] for _ in range(size)]
    for name in maybe_missing:
        column = columns[name]
        if None in column:
            for position, value in enumerate(column):
                if value is None:
                    imputed[valid_indices[position]].append(name)
    return imputed


def _validate_with_schema(
    index: int, row: Any, features: Sequence[str], required: Sequence[str]
) -> tuple[list[Any] | None, list[RowError]]:
    """One row through ``HouseFeatures``: its feature values, or its errors."""
    house, errors = _validate_row(index, row)
    values: list[Any] | None = None
    if house is not None:
        clean = house.model_dump(by_alias=True)
        values = [clean.get(name) for name in features]
    if isinstance(row, Mapping):
        flagged = {error["field"] for error in errors}
        errors.extend(
            RowError(row=index, field=name, message=REQUIRED_MESSAGE)
            for name in required
            if name not in flagged and is_missing(row.get(name))
        )
    return (None, errors) if errors else (values, errors)


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
