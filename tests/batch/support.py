"""Helpers of the batch tests: the reference prices and the output's columns."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from regression_model import make_prediction
from regression_model.batch.columns import csv_cell
from regression_model.processing.validation import PLAIN_FIELDS

NUMBER_KEYS = {
    key
    for plain in PLAIN_FIELDS or ()
    if plain.kind != "label"
    for key in (plain.key, *plain.other_keys)
}


def csv_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV's rows read with the standard library, typed as the batch reader types them.

    ``NA`` and the empty string are missing; a number field's decimal text is
    its number; everything else stays text.
    """
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    typed = []
    for row in rows:
        typed.append(
            {
                key: None
                if value in {"NA", ""}
                else (csv_cell(value) if key in NUMBER_KEYS else value)
                for key, value in row.items()
            }
        )
    return typed


def reference(
    rows: list[dict[str, Any]],
) -> tuple[np.ndarray, list[list[dict[str, str]]]]:
    """``make_prediction``'s prices (NaN: none) and each row's errors."""
    result = make_prediction(input_data=rows)
    prices = np.array([np.nan if p is None else p for p in result["predictions"]])
    errors: list[list[dict[str, str]]] = [[] for _ in rows]
    for error in result["errors"]:
        errors[error["row"]].append(
            {"field": error["field"], "message": error["message"]}
        )
    return prices, errors


def read_output(path: Path) -> pa.Table:
    """A Parquet output: one file, or a directory of parts in order."""
    if path.is_dir():
        return pa.concat_tables(pq.read_table(part) for part in sorted(path.iterdir()))
    return pq.read_table(path)


def prices_of(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("price").to_numpy(zero_copy_only=False), dtype=float)
