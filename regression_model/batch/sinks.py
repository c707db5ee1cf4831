"""Writing the output in chunks, under a temporary name renamed at the end.

An interrupted or failed run leaves no file that looks complete: the
output is written beside its final name (same directory, so the rename is
atomic on one file system) and renamed only once every row is written.
Parquet keeps ``errors`` and ``imputed`` as lists; CSV writes them as JSON
text.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from regression_model.batch.table import ERRORS_TYPE, IMPUTED_TYPE

OutputFormat = Literal["csv", "parquet"]
OUTPUT_SUFFIXES: dict[str, OutputFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class OutputError(Exception):
    """An output that must not be written: it exists, or its format is unknown."""


def output_format(path: Path, *, directory: bool = False) -> OutputFormat:
    """The format of ``path`` by its suffix; a directory output is Parquet."""
    if directory:
        return "parquet"
    found = OUTPUT_SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise OutputError(
            f"{path}: unknown output format {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(sorted(OUTPUT_SUFFIXES))}"
        )
    return found


def check_output(path: Path, *, overwrite: bool) -> None:
    """Refuse an existing output unless ``overwrite``; its directory must exist."""
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such directory")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``, renamed to ``path`` if the block succeeds."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    if path.is_dir() and temporary.is_dir():
        shutil.rmtree(path)
    os.replace(temporary, path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class TableWriter(Protocol):
    """Writes result tables, one after another, to one file."""

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class ParquetTableWriter:
    """Result tables into one Parquet file (one row group per chunk)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


class CsvTableWriter:
    """Result tables into one CSV file, lists as JSON text, missing as empty."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pacsv.CSVWriter(path, csv_schema(schema))

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(as_csv_table(table))

    def close(self) -> None:
        self._writer.close()


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its list columns as text."""
    return pa.schema(
        [
            pa.field(f.name, pa.string()) if f.type in (ERRORS_TYPE, IMPUTED_TYPE) else f
            for f in schema
        ]
    )


def as_csv_table(table: pa.Table) -> pa.Table:
    """``table`` with ``errors`` and ``imputed`` as JSON text."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if column.type == ERRORS_TYPE:
            columns[name] = _json_errors(column.combine_chunks())
        elif column.type == IMPUTED_TYPE:
            columns[name] = _json_names(column.combine_chunks())
        else:
            columns[name] = column
    return pa.table(columns)


def _json_errors(errors: pa.Array) -> pa.Array:
    """A row's errors as JSON text; ``[]`` for the (many) rows without any."""
    texts = ["[]"] * len(errors)
    counts = pc.list_value_length(errors).to_numpy(zero_copy_only=False)
    for row in counts.nonzero()[0].tolist():
        texts[row] = json.dumps(errors[row].as_py())
    return pa.array(texts, pa.string())


def _json_names(names: pa.Array) -> pa.Array:
    """A list of field names as JSON text, built by column (names need no escaping)."""
    joined = pc.binary_join(names, '", "')
    quoted = pc.binary_join_element_wise('["', joined, '"]', "")
    return pc.if_else(pc.greater(pc.list_value_length(names), 0), quoted, "[]")


def table_writer(path: Path, fmt: OutputFormat, schema: pa.Schema) -> TableWriter:
    """A writer of ``fmt`` for result tables of ``schema`` at ``path``."""
    if fmt == "csv":
        return CsvTableWriter(path, schema)
    return ParquetTableWriter(path, schema)
