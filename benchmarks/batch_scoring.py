"""Batch scoring: rows/s end to end, against make_prediction, Dask 1 vs 2 workers, RSS.

Synthetic rows are resampled from test.csv with multiplicative noise on the
numbers and about one bad cell in a hundred (a number out of range, an
unknown label). Each run is a child process (``house-prices score``), so its
peak RSS is its own (``wait4``); on a terminal it shows its progress bar.

    python benchmarks/batch_scoring.py                      # 1M and 10M rows
    python benchmarks/batch_scoring.py --rows 20000 --big-rows 40000   # smoke
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from regression_model import load_model, make_prediction
from regression_model.batch.table import TableScorer
from regression_model.config.core import DATASET_DIR
from regression_model.processing.data_manager import read_csv
from regression_model.processing.validation import validate_rows

GROUP_ROWS = 250_000
BAD_SHARE = 0.01


def synthetic(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` rows resampled from test.csv, noisy, some bad, written group by group."""
    rng = np.random.default_rng(seed)
    base = pa.Table.from_pandas(read_csv(DATASET_DIR / "test.csv"), preserve_index=False)
    writer = None
    for start in range(0, rows, GROUP_ROWS):
        size = min(GROUP_ROWS, rows - start)
        table = base.take(rng.integers(0, base.num_rows, size))
        columns = {}
        for name, original in zip(table.column_names, table.columns, strict=True):
            column = original
            bad = rng.random(size) < BAD_SHARE / 10
            if pa.types.is_floating(column.type) and name != "Id":
                values = column.to_numpy(zero_copy_only=False)
                noisy = values * rng.normal(1.0, 0.05, size)
                column = pa.array(np.where(bad, -1.0, noisy), from_pandas=True)
            elif pa.types.is_string(column.type):
                values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
                values[bad] = "Unknown"
                column = pa.array(values, pa.string(), from_pandas=True)
            columns[name] = column
        chunk = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, chunk.schema)
        writer.write_table(chunk.cast(writer.schema))
    assert writer is not None
    writer.close()


def run_cli(arguments: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one ``house-prices score`` child process."""
    command = [sys.executable, "-m", "regression_model.batch.cli", "score", *arguments]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed")
    return seconds, usage.ru_maxrss * 1024


def make_prediction_speed(path: Path, rows: int) -> float:
    """make_prediction's rows/s on the first ``rows`` rows (as Python records)."""
    records = pq.ParquetFile(path).read_row_group(0).slice(0, rows).to_pylist()
    model = load_model()
    start = time.perf_counter()
    make_prediction(input_data=records, model=model)
    return len(records) / (time.perf_counter() - start)


def graph_share(path: Path, rows: int) -> tuple[float, float]:
    """Seconds per chunk of ``rows``: the whole table scoring, and the graph run alone."""
    table = pq.ParquetFile(path).read_row_group(0).slice(0, rows)
    scorer = TableScorer()
    start = time.perf_counter()
    scorer.score(table)
    whole = time.perf_counter() - start
    onnx = scorer.scorer
    validated = validate_rows(table.to_pylist(), onnx.features, scorer.required)
    feed = onnx.graph_inputs(validated.columns)
    start = time.perf_counter()
    onnx.score_columns(feed)
    graph = (time.perf_counter() - start) * rows / max(1, len(validated.valid_indices))
    return whole, graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        small, big = work / "small.parquet", work / "big.parquet"
        synthetic(small, options.rows)
        synthetic(big, options.big_rows)
        seconds, small_rss = run_cli([str(small), str(work / "out-small.parquet")])
        print(
            f"end to end, Parquet -> Parquet, {options.rows:,} rows: "
            f"{options.rows / seconds:,.0f} rows/s ({seconds:.1f} s with start-up)"
        )
        reference = make_prediction_speed(
            small, min(options.reference_rows, options.rows)
        )
        print(
            f"make_prediction, {options.reference_rows:,} of the same rows: "
            f"{reference:,.0f} rows/s"
        )
        whole, graph = graph_share(small, min(options.chunk_rows, options.rows))
        print(
            f"one chunk of {options.chunk_rows:,} rows: {whole * 1e3:.0f} ms scoring, "
            f"{graph * 1e3:.0f} ms of it the graph run (string feed included)"
        )
        big_seconds, big_rss = run_cli([str(big), str(work / "out-big.parquet")])
        print(
            f"end to end, {options.big_rows:,} rows: "
            f"{options.big_rows / big_seconds:,.0f} rows/s"
        )
        print(
            f"peak RSS: {small_rss / 2**20:.0f} MiB at {options.rows:,} rows, "
            f"{big_rss / 2**20:.0f} MiB at {options.big_rows:,} rows "
            f"(ratio {big_rss / small_rss:.2f})"
        )
        speeds = {}
        for workers in (1, 2):
            target = work / f"dask-{workers}"
            arguments = [str(big), str(target), "--engine", "dask"]
            took, _ = run_cli([*arguments, "--workers", str(workers)])
            speeds[workers] = options.big_rows / took
            print(
                f"dask, {workers} worker(s), {options.big_rows:,} rows: "
                f"{speeds[workers]:,.0f} rows/s (cluster start-up included)"
            )
        print(f"dask 2 / 1 workers: {speeds[2] / speeds[1]:.2f}x")


if __name__ == "__main__":
    main()
