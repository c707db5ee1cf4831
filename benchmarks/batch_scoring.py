"""Batch scoring: end to end against the graph alone and make_prediction; RSS; Dask.

Synthetic rows are resampled from test.csv with multiplicative noise on the
numbers and about one bad cell in a hundred (a number out of range, an
unknown label), written in row groups of ``--group-rows``. In this process,
on the same rows and chunks: ``score_file`` end to end (read Parquet,
validate, score, write Parquet), the graph alone (``score_columns`` on the
feed ``TableScorer.prepare`` builds, the floor of any run) and
``make_prediction`` (on each chunk's records). Then child processes
(``house-prices score``), each with its own peak RSS (``wait4``): the local
engine on both files, and the Dask engine on the big file with a 1- and a
2-worker ``LocalCluster``.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from regression_model import load_model, make_prediction
from regression_model.batch import score_file
from regression_model.batch.sources import CHUNK_ROWS, open_input
from regression_model.batch.table import TableScorer
from regression_model.config.core import DATASET_DIR
from regression_model.model import LoadedModel
from regression_model.processing.data_manager import read_csv

GROUP_ROWS = 100_000
BAD_SHARE = 0.01
NOISY = ("Area", "SF", "Frontage", "Porch")


def synthetic(
    path: Path, rows: int, *, group_rows: int = GROUP_ROWS, seed: int = 0
) -> None:
    """``rows`` rows resampled from test.csv, noisy, some bad, one row group at a time.

    Areas get multiplicative noise; about one cell in a thousand is bad (-1
    in a number column, an unknown label in a text column), so a few rows in
    a hundred have an error and go through the row schema.
    """
    rng = np.random.default_rng(seed)
    base = pa.Table.from_pandas(read_csv(DATASET_DIR / "test.csv"), preserve_index=False)
    writer = None
    for start in range(0, rows, group_rows):
        size = min(group_rows, rows - start)
        table = base.take(rng.integers(0, base.num_rows, size))
        columns = {}
        for name, original in zip(table.column_names, table.columns, strict=True):
            column = original
            bad = rng.random(size) < BAD_SHARE / 10
            number = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            if number and name != "Id":
                values = column.to_numpy(zero_copy_only=False).astype(np.float64)
                if any(part in name for part in NOISY):
                    values = np.round(values * rng.normal(1.0, 0.05, size))
                column = pa.array(np.where(bad, -1.0, values), from_pandas=True)
            elif pa.types.is_large_string(column.type) or pa.types.is_string(column.type):
                values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
                values[bad] = "Unknown"
                column = pa.array(values, pa.string(), from_pandas=True)
            columns[name] = column
        chunk = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, chunk.schema)
        writer.write_table(chunk.cast(writer.schema), row_group_size=group_rows)
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


class Clock:
    """Wall and CPU seconds of this process, summed over the timed blocks.

    CPU time is the comparison that holds on a busy machine: the graph runs
    on one thread, so other processes slow its wall time, not its CPU time.
    """

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


def end_to_end(path: Path, output: Path, model: LoadedModel, chunk_rows: int) -> Clock:
    """``score_file`` Parquet to Parquet, the model already loaded."""
    clock = Clock()
    with clock.timing():
        score_file(path, output, model=model, overwrite=True, chunk_rows=chunk_rows)
    return clock


def graph_alone(path: Path, model: LoadedModel, chunk_rows: int) -> Clock:
    """The graph run alone over every chunk, on the feed ``score`` would give it."""
    scorer = TableScorer(model)
    clock = Clock()
    for chunk in open_input(path).chunks(rows=chunk_rows):
        prepared = scorer.prepare(chunk.table)
        if prepared.rows.size:
            with clock.timing():
                scorer.scorer.score_columns(prepared.feed)
    return clock


def make_prediction_alone(path: Path, model: LoadedModel, chunk_rows: int) -> Clock:
    """``make_prediction`` over every chunk's records (building the records not timed)."""
    clock = Clock()
    for chunk in open_input(path).chunks(rows=chunk_rows):
        records = chunk.table.to_pylist()
        with clock.timing():
            make_prediction(input_data=records, model=model)
    return clock


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS)
    parser.add_argument("--group-rows", type=int, default=GROUP_ROWS)
    options = parser.parse_args()
    rows, big_rows, chunk_rows = options.rows, options.big_rows, options.chunk_rows
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores, {load()}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        small, big = work / "small.parquet", work / "big.parquet"
        synthetic(small, rows, group_rows=options.group_rows)
        synthetic(big, big_rows, group_rows=options.group_rows)
        model = load_model()
        warm_up = next(open_input(small).chunks(rows=1_000)).table
        TableScorer(model).score(warm_up)  # the graph's first run allocates
        whole = end_to_end(small, work / "in-process.parquet", model, chunk_rows)
        graph = graph_alone(small, model, chunk_rows)
        reference = make_prediction_alone(small, model, chunk_rows)
        print(f"{rows:,} rows in chunks of {chunk_rows:,}, in this process ({load()}):")
        print("  rows/s by CPU time (by wall time)")
        for label, clock in (
            ("graph alone (score_columns on built feeds)", graph),
            ("end to end, Parquet -> Parquet (score_file)", whole),
            ("make_prediction (records per chunk)", reference),
        ):
            print(f"  {label:<44} {rows / clock.cpu:>9,.0f} ({rows / clock.wall:,.0f})")
        print(
            f"  end to end / graph alone: {graph.cpu / whole.cpu:.3f} by CPU time "
            f"({graph.wall / whole.wall:.3f} by wall time)"
        )
        small_seconds, small_rss = run_cli([str(small), str(work / "out-small.parquet")])
        big_seconds, big_rss = run_cli([str(big), str(work / "out-big.parquet")])
        print(f"house-prices score, child processes, start-up included ({load()}):")
        for count, seconds, rss in (
            (rows, small_seconds, small_rss),
            (big_rows, big_seconds, big_rss),
        ):
            print(
                f"  {count:>12,} rows: {count / seconds:,.0f} rows/s, "
                f"peak RSS {rss / 2**20:,.0f} MiB"
            )
        print(f"  peak RSS {big_rows:,} / {rows:,} rows: {big_rss / small_rss:.3f}")
        speeds = {}
        for workers in (1, 2):
            target = work / f"dask-{workers}"
            arguments = [str(big), str(target), "--engine", "dask"]
            took, _ = run_cli([*arguments, "--workers", str(workers)])
            speeds[workers] = big_rows / took
            print(
                f"dask, {workers} worker(s), {big_rows:,} rows: "
                f"{speeds[workers]:,.0f} rows/s (cluster start-up included; {load()})"
            )
        print(f"dask 2 / 1 workers: {speeds[2] / speeds[1]:.2f}x")


if __name__ == "__main__":
    main()
