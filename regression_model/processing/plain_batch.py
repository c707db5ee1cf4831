"""A batch's plain rows, found and laid out as columns in bulk.

Given each field's plain check (``plain_checks``), this finds the rows whose
values are all plain and collects their clean values one column per field:
small batches row by row, large ones a column at a time (sets and NumPy),
each shortcut giving what the per-value check gives element by element. It
also merges those columns with the rows pydantic validated and lists what
each valid row leaves to imputation. It reports no errors: rows it does not
take are the caller's to validate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from regression_model.processing.plain_checks import NOT_PLAIN, NoneType, PlainField


@dataclass
class PlainBatch:
    """The plain rows of a batch: row indices and each field's clean values.

    ``missing`` names every field whose column may hold ``None`` (a superset:
    the others certainly hold none), so that finding what to impute need not
    scan every column.
    """

    indices: list[int]
    values: dict[str, list[Any]]
    missing: set[str] = field(default_factory=set)

    def taking(self, positions: list[int]) -> PlainBatch:
        """The batch with only the rows at ``positions``."""
        return PlainBatch(
            [self.indices[p] for p in positions],
            {
                name: list(map(column.__getitem__, positions))
                for name, column in self.values.items()
            },
            self.missing,
        )


class PlainSplitter:
    """Splits batches into plain rows and the rest, for one schema's plain checks.

    Batches of at least ``column_wise_rows`` candidate rows are checked a
    column at a time. What each field's check needs is read once, here, not
    per row.
    """

    def __init__(self, fields: tuple[PlainField, ...], column_wise_rows: int) -> None:
        self.fields = fields
        self.column_wise_rows = column_wise_rows
        self._readers = [(plain.key, plain.accept) for plain in fields]
        self._other_keys = tuple(key for plain in fields for key in plain.other_keys)
        self._outputs = [plain.output for plain in fields]

    def split(self, rows: Sequence[Any]) -> tuple[PlainBatch, list[int]]:
        """The rows whose values are all plain, and the indices of the others."""
        candidates = [
            index
            for index, row in enumerate(rows)
            if type(row) is dict and row.keys().isdisjoint(self._other_keys)
        ]
        if len(candidates) < self.column_wise_rows:
            return self._split_by_row(rows, candidates)
        return self._split_by_column(rows, candidates)

    def _split_by_row(
        self, rows: Sequence[Any], candidates: list[int]
    ) -> tuple[PlainBatch, list[int]]:
        plain_rows: list[int] = []
        plain_values: list[list[Any]] = []
        others = (
            []
            if len(candidates) == len(rows)
            else sorted(set(range(len(rows))).difference(candidates))
        )
        for index in candidates:
            get = rows[index].get
            values = [accept(get(key)) for key, accept in self._readers]
            if NOT_PLAIN in values:
                others.append(index)
            else:
                plain_rows.append(index)
                plain_values.append(values)
        if plain_values:
            columns = list(map(list, zip(*plain_values, strict=True)))
        else:
            columns = [[] for _ in self.fields]
        by_output = dict(zip(self._outputs, columns, strict=True))
        missing = {name for name, column in by_output.items() if None in column}
        return PlainBatch(plain_rows, by_output, missing), sorted(others)

    def _split_by_column(
        self, rows: Sequence[Any], candidates: list[int]
    ) -> tuple[PlainBatch, list[int]]:
        candidate_rows = [rows[index] for index in candidates]
        values: dict[str, list[Any]] = {}
        missing: set[str] = set()
        refused: set[int] = set()
        for plain in self.fields:
            column = list(map(dict.get, candidate_rows, repeat(plain.key)))
            values[plain.output], not_plain, has_missing = _plain_column(plain, column)
            refused.update(not_plain)
            if has_missing:
                missing.add(plain.output)
        batch = PlainBatch(candidates, values, missing)
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


def merge_columns(
    plain: PlainBatch, checked: list[tuple[int, list[Any]]], features: list[str]
) -> tuple[list[int], dict[str, list[Any]]]:
    """Valid rows in input order, and each feature's column over them.

    ``checked`` are the other valid rows: (row index, values in ``features``'
    order).
    """
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


def imputed_fields(
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
