"""Batch scoring of files and Arrow tables (needs the ``[batch]`` extra).

``score_file`` prices a CSV or Parquet file into a Parquet or CSV file, one
output row per input row, streaming in chunks (``engine="local"``) or over a
Dask cluster (``engine="dask"``, partitioned Parquet). ``score_table``
prices an in-memory ``pyarrow.Table``. Prices equal ``make_prediction``'s
for the same rows; a row with a problem gets its errors, never a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from regression_model.batch.files import Progress, Summary, score_local
from regression_model.batch.sinks import OutputError
from regression_model.batch.sources import CHUNK_ROWS, InputError
from regression_model.batch.table import TableScorer, score_table
from regression_model.model import LoadedModel

Engine = Literal["local", "dask"]

__all__ = [
    "Engine",
    "InputError",
    "OutputError",
    "Summary",
    "score_file",
    "score_table",
]


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    engine: Engine = "local",
    overwrite: bool = False,
    explain: bool = False,
    scheduler: str | None = None,
    workers: int = 2,
    model: LoadedModel | None = None,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Summary:
    """Price every row of ``input_path`` into ``output_path``.

    Input: CSV (Kaggle's ``test.csv`` as it is) or Parquet (a file, or a
    directory of files). Output columns: ``Id`` (``row``, the row's index,
    without one), ``line`` for CSV input, ``price`` (null for a row with
    errors), ``errors``, ``imputed``, ``interval_low`` and ``interval_high``
    (null without a price); ``explain`` adds ``base_log_price`` and one
    ``contrib_<feature>`` per explained feature (null without a price).
    ``engine="dask"`` scores Parquet on the cluster at ``scheduler`` (or a
    local one of ``workers`` processes)
    into a directory of Parquet files; it uses the workers' installed model.
    Raises ``InputError`` for an input that cannot be read, ``OutputError``
    for an output that exists (without ``overwrite``) or has an unknown
    format, and ``ValueError`` for ``explain`` on a model without
    explanations; nothing is written then.
    """
    source, target = Path(input_path), Path(output_path)
    scorer = TableScorer(model)
    if explain and not scorer.offers_explanations:
        raise ValueError(f"model {scorer.version} offers no explanations")
    if engine == "dask":
        from regression_model.batch.distributed import score_on_dask  # noqa: PLC0415

        return score_on_dask(
            source,
            target,
            overwrite=overwrite,
            scheduler=scheduler,
            workers=workers,
            explain=explain,
            progress=progress,
            chunk_rows=chunk_rows,
        )
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r}; use 'local' or 'dask'")
    return score_local(
        source,
        target,
        overwrite=overwrite,
        scorer=scorer,
        explain=explain,
        progress=progress,
        chunk_rows=chunk_rows,
    )
