"""Reading an input file in chunks: CSV (streamed, as text) or Parquet (by batches).

Only the columns the model reads (every spelling of every field, and ``Id``)
are read. CSV cells are read as text with the package's NA convention
(``NA`` and the empty string mean missing, the text ``None`` does not), so a
column's type never depends on the first block; number cells are typed by
``columns.csv_cell``. A malformed CSV line does not stop the read: it is
reported, with its line, as a ``MalformedLine`` in order among the rows.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from regression_model.processing.data_manager import NA_VALUES
from regression_model.processing.validation import PLAIN_FIELDS

Format = Literal["csv", "parquet"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CHUNK_BYTES = 8 << 20
CHUNK_ROWS = 65_536
# Parquet column chunks are read through a buffer of this size, page by page,
# so a large row group is never held whole: memory follows the chunk, not the file.
READ_BUFFER_BYTES = 1 << 20
ID_COLUMN = "Id"


class InputError(Exception):
    """An input that cannot be read at all: unknown format, missing or unreadable file."""


def model_columns() -> set[str]:
    """Every column name the model reads: each spelling of each field, and ``Id``."""
    keys = {key for plain in PLAIN_FIELDS or () for key in (plain.key, *plain.other_keys)}
    return keys | {ID_COLUMN}


def file_format(path: Path) -> Format:
    """The format of ``path`` by its suffix (a directory is partitioned Parquet)."""
    if path.is_dir():
        return "parquet"
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"{path}: unknown format {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(sorted(SUFFIXES))} or a directory of Parquet files"
        )
    return found


@dataclass(frozen=True)
class MalformedLine:
    """A CSV line the parser could not split into the header's fields."""

    line: int
    message: str


@dataclass(frozen=True)
class Chunk:
    """Consecutive input rows: the model's columns, and for CSV each row's line.

    ``malformed`` are the malformed lines among (or just before) these rows;
    ``lines[i]`` is row ``i``'s line (header: line 1; blank lines are not
    counted, as the CSV parser counts).
    """

    table: pa.Table
    text_cells: bool
    done: int
    lines: np.ndarray | None = None
    malformed: list[MalformedLine] = field(default_factory=list)


@dataclass
class InputFile:
    """An opened input: its format, the columns it has, and a size to measure progress."""

    path: Path
    format: Format
    columns: list[str]
    total: int
    parts: list[Path]

    def chunks(self, *, rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """The file's rows in order, in chunks; ``done`` counts toward ``total``."""
        if self.format == "csv":
            return _csv_chunks(self)
        return _parquet_chunks(self, rows)


def open_input(path: Path) -> InputFile:
    """Check that ``path`` can be read and learn its columns; ``InputError`` if not."""
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    try:
        if fmt == "csv":
            return _open_csv(path)
        return _open_parquet(path)
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"{path}: cannot be read as {fmt}: {error}") from error


def _open_csv(path: Path) -> InputFile:
    skip = pacsv.ParseOptions(invalid_row_handler=lambda row: "skip")
    with pacsv.open_csv(path, read_options=_read_options(), parse_options=skip) as reader:
        columns = reader.schema.names
    return InputFile(path, "csv", columns, path.stat().st_size, [path])


def _open_parquet(path: Path) -> InputFile:
    parts = sorted(p for p in path.rglob("*.parquet")) if path.is_dir() else [path]
    if not parts:
        raise InputError(f"{path}: a directory without .parquet files")
    total = 0
    columns: list[str] = []
    for part in parts:
        metadata = pq.ParquetFile(part).metadata
        total += metadata.num_rows
        columns = columns or metadata.schema.to_arrow_schema().names
    return InputFile(path, "parquet", columns, total, parts)


def _read_options() -> pacsv.ReadOptions:
    return pacsv.ReadOptions(use_threads=False, block_size=CHUNK_BYTES)


class _CountingFile(io.FileIO):
    """A file that counts the bytes read from it (the CSV's progress)."""

    bytes_read = 0

    def readinto(self, buffer: bytearray | memoryview) -> int | None:  # type: ignore[override]
        count = super().readinto(buffer)
        self.bytes_read += count or 0
        return count


class _MalformedLines:
    """Collects the parser's malformed lines, then places them among the good rows."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, str]] = []
        self.next_line = 2  # the header is line 1

    def __call__(self, row: pacsv.InvalidRow) -> str:
        number = row.number if row.number is not None else -1
        message = (
            f"malformed CSV line: {row.actual_columns} fields where the header has "
            f"{row.expected_columns}"
        )
        heapq.heappush(self.pending, (number, message))
        return "skip"

    def place(self, count: int) -> tuple[np.ndarray, list[MalformedLine]]:
        """The lines of the next ``count`` good rows, and the malformed lines among them.

        Good rows take, in order, the lines no malformed line took; the parser
        reports a block's malformed lines before it yields the block's rows.
        """
        lines = np.arange(self.next_line, self.next_line + count, dtype=np.int64)
        placed = []
        while self.pending:
            number, message = self.pending[0]
            if number > (lines[-1] if count else self.next_line):
                break
            heapq.heappop(self.pending)
            placed.append(MalformedLine(number, message))
            if number >= self.next_line and count:
                lines[np.searchsorted(lines, number) :] += 1
            elif number >= self.next_line:
                self.next_line = number + 1
        if count:
            self.next_line = int(lines[-1]) + 1
        return lines, placed

    def rest(self) -> list[MalformedLine]:
        """Malformed lines after the last good row."""
        rest = [MalformedLine(n, m) for n, m in sorted(self.pending)]
        self.pending.clear()
        return rest


def _csv_chunks(source: InputFile) -> Iterator[Chunk]:
    wanted = [name for name in source.columns if name in model_columns()]
    malformed = _MalformedLines()
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in wanted},
        include_columns=wanted,
        null_values=NA_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    parse = pacsv.ParseOptions(invalid_row_handler=malformed)
    with _CountingFile(source.path) as raw:
        reader = pacsv.open_csv(
            io.BufferedReader(raw),
            read_options=_read_options(),
            parse_options=parse,
            convert_options=convert,
        )
        for batch in reader:
            lines, placed = malformed.place(batch.num_rows)
            if batch.num_rows or placed:
                table = pa.Table.from_batches([batch])
                yield Chunk(table, True, raw.bytes_read, lines, placed)
        rest = malformed.rest()
        if rest:
            empty = pa.table({name: pa.array([], pa.string()) for name in wanted})
            yield Chunk(empty, True, raw.bytes_read, np.empty(0, np.int64), rest)


def parquet_file(path: Path) -> pq.ParquetFile:
    """``path`` opened for streaming reads (buffered column chunks, no pre-buffering)."""
    return pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)


def _parquet_chunks(source: InputFile, rows: int) -> Iterator[Chunk]:
    wanted = model_columns()
    done = 0
    for part in source.parts:
        parquet = parquet_file(part)
        names = [n for n in parquet.schema_arrow.names if n in wanted]
        for batch in parquet.iter_batches(batch_size=rows, columns=names):
            done += batch.num_rows
            yield Chunk(pa.Table.from_batches([batch]), False, done)
