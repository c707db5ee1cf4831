"""Scoring a file in one process: read a chunk, score it, write it, repeat.

Memory holds one chunk at a time, whatever the file's size. The result
rows come out in input order, one per input row: a malformed CSV line
becomes a row with its error, in its place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from regression_model.batch.sinks import (
    atomic_path,
    check_output,
    output_format,
    table_writer,
)
from regression_model.batch.sources import (
    CHUNK_ROWS,
    ID_COLUMN,
    Chunk,
    InputFile,
    model_columns,
    open_input,
)
from regression_model.batch.table import (
    ERRORS_TYPE,
    IMPUTED_TYPE,
    ROW_COLUMN,
    Outcome,
    TableScorer,
    extra_fields,
)
from regression_model.processing.validation import ROW_LEVEL

LINE_COLUMN = "line"
# Called after each chunk with (rows written so far, progress done, progress total).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Summary:
    """What a run wrote: rows, rows with errors, the model version."""

    rows: int
    refused: int
    version: str


class ResultLayout:
    """The output's columns for one input: its id (``Id`` or ``row``), CSV's ``line``.

    ``explained``: the features of the explanation columns (``None``: no explanation).
    """

    def __init__(
        self,
        source: InputFile,
        id_type: pa.DataType | None,
        explained: list[str] | None = None,
    ) -> None:
        self.has_id = ID_COLUMN in source.columns
        self.id_name = ID_COLUMN if self.has_id else ROW_COLUMN
        self.id_type = (id_type or pa.string()) if self.has_id else pa.int64()
        self.has_lines = source.format == "csv"
        self.unreadable = _unreadable(source)
        self.explained = explained

    @property
    def schema(self) -> pa.Schema:
        fields = [pa.field(self.id_name, self.id_type)]
        if self.has_lines:
            fields.append(pa.field(LINE_COLUMN, pa.int64()))
        fields += [
            pa.field("price", pa.float64()),
            pa.field("errors", ERRORS_TYPE),
            pa.field("imputed", IMPUTED_TYPE),
            *extra_fields(self.explained),
        ]
        return pa.schema(fields)

    def result(self, scorer: TableScorer, chunk: Chunk, first_row: int) -> pa.Table:
        """The chunk's result rows (malformed lines in place), from row ``first_row``."""
        table = chunk.table
        if self.unreadable:
            outcome = Outcome.refused(table.num_rows, self.unreadable)
        else:
            outcome = scorer.score(
                table, text_cells=chunk.text_cells, explain=self.explained is not None
            )
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        if self.has_id:
            columns[ID_COLUMN] = table.column(ID_COLUMN).cast(self.id_type)
        if self.has_lines:
            columns[LINE_COLUMN] = pa.array(chunk.lines, pa.int64())
        columns["price"] = pa.array(outcome.prices, pa.float64(), from_pandas=True)
        columns["errors"] = outcome.errors
        columns["imputed"] = outcome.imputed
        columns.update(outcome.extra_columns(self.explained))
        result = pa.table(columns)
        if chunk.malformed:
            result = self._with_malformed(result, chunk)
        if not self.has_id:
            rows = np.arange(first_row, first_row + result.num_rows, dtype=np.int64)
            result = result.add_column(0, ROW_COLUMN, pa.array(rows))
        return result

    def _with_malformed(self, result: pa.Table, chunk: Chunk) -> pa.Table:
        size = len(chunk.malformed)
        errors = [
            [{"field": ROW_LEVEL, "message": bad.message}] for bad in chunk.malformed
        ]
        bad: dict[str, pa.Array] = {}
        if self.has_id:
            bad[ID_COLUMN] = pa.nulls(size, self.id_type)
        bad[LINE_COLUMN] = pa.array([m.line for m in chunk.malformed], pa.int64())
        bad["price"] = pa.nulls(size, pa.float64())
        bad["errors"] = pa.array(errors, ERRORS_TYPE)
        bad["imputed"] = pa.array([[]] * size, IMPUTED_TYPE)
        for field in extra_fields(self.explained):
            bad[field.name] = pa.nulls(size, field.type)
        both = pa.concat_tables([result, pa.table(bad)])
        order = pc.sort_indices(both, sort_keys=[(LINE_COLUMN, "ascending")])
        return both.take(order)


def _unreadable(source: InputFile) -> str | None:
    """Why no row can be read, when the input has none of the model's columns."""
    if set(source.columns) & (model_columns() - {ID_COLUMN}):
        return None
    shown = ", ".join(repr(name[:40]) for name in source.columns[:3])
    hint = "; is the file delimited by ','?" if source.format == "csv" else ""
    return f"the input has none of the model's columns (it has {shown}){hint}"


def id_type_of(source: InputFile) -> pa.DataType | None:
    """The type of the input's ``Id``: text for CSV, the file's own type for Parquet."""
    if source.format == "csv" or ID_COLUMN not in source.columns:
        return None
    import pyarrow.parquet as pq  # noqa: PLC0415 - only Parquet inputs need it

    schema = pq.ParquetFile(source.parts[0]).schema_arrow
    return schema.field(ID_COLUMN).type


def score_local(
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool,
    scorer: TableScorer,
    explain: bool = False,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Summary:
    """Score ``input_path`` into ``output_path`` in this process, chunk by chunk."""
    source = open_input(input_path)
    fmt = output_format(output_path)
    check_output(output_path, overwrite=overwrite)
    explained = scorer.explained_features if explain else None
    layout = ResultLayout(source, id_type_of(source), explained)
    rows = refused = 0
    with atomic_path(output_path) as temporary:
        writer = table_writer(temporary, fmt, layout.schema)
        try:
            for chunk in source.chunks(rows=chunk_rows):
                result = layout.result(scorer, chunk, rows)
                writer.write(result)
                rows += result.num_rows
                refused += result.column("price").null_count
                if progress is not None:
                    progress(rows, chunk.done, source.total)
        finally:
            writer.close()
    return Summary(rows=rows, refused=refused, version=scorer.version)
