"""The schema's plain checks (``plain_checks``), applied to whole Arrow columns.

Each ``PlainField`` says which values of its field are plain and what each
becomes. Here the same rule runs a column at a time: NumPy over a number
column, and over a label column's small dictionary (each distinct text
checked once, the rows carried as codes). A cell the vectorised rule cannot
decide marks its row *undecided*; the caller hands those rows, whole, to
``validate_rows``, so every error keeps the row schema's words.

CSV cells are text. In a number field, text that is a decimal literal
(``12``, ``-3.5``, ``1e3``) is that number, as a CSV reader types it;
any other text stays text and goes to the row schema as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from regression_model.processing.plain_checks import (
    EXACT_INTEGERS,
    NOT_PLAIN,
    PlainField,
)

INTEGER_TEXT = r"[+-]?[0-9]+"
DECIMAL_TEXT = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_INTEGER = re.compile(INTEGER_TEXT)
_DECIMAL = re.compile(DECIMAL_TEXT)


def csv_cell(text: Any) -> Any:
    """A CSV cell of a number field as a typed value: an int, a float, or its text."""
    if not isinstance(text, str):
        return text
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


@dataclass(frozen=True)
class NumberColumn:
    """A number field's clean values, float64, NaN where missing."""

    values: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        result: np.ndarray = np.isnan(self.values)
        return result


@dataclass(frozen=True)
class LabelColumn:
    """A label field's clean values as codes into ``labels``; -1 where missing."""

    codes: np.ndarray
    labels: list[Any]

    @property
    def missing(self) -> np.ndarray:
        result: np.ndarray = self.codes < 0
        return result


CleanColumn = NumberColumn | LabelColumn


@dataclass(frozen=True)
class CheckedColumn:
    """One field's clean column and the rows whose cell it could not decide."""

    clean: CleanColumn
    undecided: np.ndarray


def is_text(data_type: pa.DataType) -> bool:
    """Whether an Arrow type holds text (plain, large or dictionary-encoded)."""
    if pa.types.is_dictionary(data_type):
        return is_text(data_type.value_type)
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


def check_column(
    plain: PlainField, array: pa.Array, *, text_cells: bool
) -> CheckedColumn:
    """``plain.accept`` over every cell of ``array``, by column.

    ``text_cells``: the column is CSV text (see the module's docstring).
    """
    if plain.kind == "label":
        return _check_labels(plain, array)
    values, undecided = _numbers(array, text_cells=text_cells)
    missing = np.isnan(values)
    fits = plain.bounds.mask(values)
    if plain.kind in {"count", "code"}:
        fits &= values == np.trunc(np.where(fits, values, 0.0))
    if plain.kind == "code":
        fits &= np.isin(values, np.array(sorted(plain.vocabulary), dtype=np.float64))
    undecided |= ~(missing | fits)
    return CheckedColumn(NumberColumn(np.where(undecided, np.nan, values)), undecided)


def _numbers(array: pa.Array, *, text_cells: bool) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 (NaN: missing or undecided) and its undecided cells."""
    data_type = array.type
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_null(data_type):
        return np.full(len(array), np.nan), np.zeros(len(array), dtype=bool)
    if pa.types.is_integer(data_type):
        exact = pc.less_equal(
            pc.abs_checked(pc.cast(array, pa.float64())), EXACT_INTEGERS
        )
        undecided = present & ~_filled(exact, fill=True)
        return _float64(array), undecided
    if pa.types.is_floating(data_type):
        return _float64(array), np.zeros(len(array), dtype=bool)
    if text_cells and is_text(data_type):
        text = pc.cast(array, pa.string()) if pa.types.is_dictionary(data_type) else array
        number = pc.match_substring_regex(text, f"^(?:{DECIMAL_TEXT})$")
        is_number = _filled(number, fill=False)
        numbers = pc.if_else(number, text, pa.scalar(None, pa.string()))
        return _float64(numbers), present & ~is_number
    return np.full(len(array), np.nan), present


def _float64(array: pa.Array) -> np.ndarray:
    cast = pc.cast(array, pa.float64(), safe=False).fill_null(np.nan)
    result: np.ndarray = np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
    return result


def _filled(mask: pa.Array, *, fill: bool) -> np.ndarray:
    result: np.ndarray = np.asarray(
        mask.fill_null(fill).to_numpy(zero_copy_only=False), dtype=bool
    )
    return result


def _check_labels(plain: PlainField, array: pa.Array) -> CheckedColumn:
    """Each distinct cell checked once; rows carried as codes into the clean labels."""
    if pa.types.is_null(array.type):
        return CheckedColumn(
            LabelColumn(np.full(len(array), -1, dtype=np.int64), []),
            np.zeros(len(array), dtype=bool),
        )
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    dictionary = encoded.dictionary
    indices = encoded.indices.fill_null(len(dictionary))
    labels: list[Any] = []
    code_of: dict[Any, int] = {}
    entry_codes = []
    for value in dictionary.to_pylist():
        clean = plain.accept(value)
        if clean is NOT_PLAIN:
            entry_codes.append(-2)
        elif clean is None:
            entry_codes.append(-1)
        else:
            entry_codes.append(code_of.setdefault(clean, len(labels)))
            if len(labels) < len(code_of):
                labels.append(clean)
    entry_codes.append(-1)  # the null cells
    codes = np.asarray(entry_codes, dtype=np.int64)[
        np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    ]
    undecided = codes == -2
    return CheckedColumn(LabelColumn(np.where(undecided, -1, codes), labels), undecided)
