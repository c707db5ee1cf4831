"""Scoring partitioned Parquet on a Dask cluster, one task per partition.

A partition is one row group of one input file, so parallelism comes from
the input's row groups: several per worker keep every worker busy (a file
written with ``row_group_size`` of about 100,000 rows gives a hundred
partitions per ten million rows). Each task reads its row group in bounded
batches, runs the same chunk scoring as the single-process run
(``files.ResultLayout`` with a ``TableScorer``) and writes its own output
file, ``part-NNNNNN.parquet``, into a temporary directory that is renamed to
the output at the end; the driver only plans partitions and counts rows.
Workers load the model from their own installed package (the wheel with the
``[batch]`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from regression_model.batch.files import (
    Progress,
    ResultLayout,
    Summary,
    id_type_of,
)
from regression_model.batch.sinks import atomic_path, check_output
from regression_model.batch.sources import (
    CHUNK_ROWS,
    Chunk,
    InputError,
    model_columns,
    open_input,
    parquet_file,
)
from regression_model.batch.table import TableScorer


@dataclass(frozen=True)
class Partition:
    """One row group of one input file, and the index of its first row."""

    number: int
    path: Path
    row_group: int
    first_row: int


def partitions_of(parts: list[Path]) -> list[Partition]:
    """Every row group of every file, in order, with its first row's index."""
    planned: list[Partition] = []
    first_row = 0
    for path in parts:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            planned.append(Partition(len(planned), path, group, first_row))
            first_row += metadata.row_group(group).num_rows
    return planned


@lru_cache(maxsize=1)
def _worker_scorer() -> TableScorer:
    """The model, loaded once per worker process."""
    return TableScorer()


def score_partition(
    partition: Partition, layout: ResultLayout, directory: Path, chunk_rows: int
) -> tuple[int, int]:
    """Score one partition into ``directory``; returns (rows, rows with errors)."""
    parquet = parquet_file(partition.path)
    wanted = model_columns()
    names = [name for name in parquet.schema_arrow.names if name in wanted]
    scorer = _worker_scorer()
    rows = refused = 0
    target = directory / f"part-{partition.number:06d}.parquet"
    with pq.ParquetWriter(target, layout.schema) as writer:
        for batch in parquet.iter_batches(
            batch_size=chunk_rows, row_groups=[partition.row_group], columns=names
        ):
            chunk = Chunk(pa.Table.from_batches([batch]), False, 0)
            result = layout.result(scorer, chunk, partition.first_row + rows)
            writer.write_table(result)
            rows += result.num_rows
            refused += result.column("price").null_count
    return rows, refused


def score_on_dask(
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool,
    scheduler: str | None,
    workers: int,
    explain: bool = False,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Summary:
    """Score Parquet ``input_path`` into the directory ``output_path`` on Dask.

    ``explain`` names the explanation columns after the driver's model; the
    workers' installed model must be the same version.
    """
    from dask.distributed import Client, LocalCluster, as_completed  # noqa: PLC0415

    source = open_input(input_path)
    if source.format != "parquet":
        raise InputError(
            f"{input_path}: --engine dask reads Parquet (a file or a directory); "
            "convert the CSV first or use --engine local"
        )
    check_output(output_path, overwrite=overwrite)
    driver = TableScorer()
    explained = driver.explained_features if explain else None
    layout = ResultLayout(source, id_type_of(source), explained)
    planned = partitions_of(source.parts)
    version = driver.version
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    rows = refused = 0
    try:
        with atomic_path(output_path) as temporary:
            temporary.mkdir()
            futures = client.map(
                score_partition,
                planned,
                layout=layout,
                directory=temporary,
                chunk_rows=chunk_rows,
                pure=False,
            )
            for future in as_completed(futures):
                done, bad = future.result()
                rows += done
                refused += bad
                if progress is not None:
                    progress(rows, rows, source.total)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return Summary(rows=rows, refused=refused, version=version)
