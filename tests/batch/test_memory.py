"""Streaming: a run's peak memory does not grow with the file it scores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regression_model.config.core import DATASET_DIR
from regression_model.processing.data_manager import read_csv

GROUP_ROWS = 50_000


def resampled(path: Path, rows: int) -> None:
    """``rows`` rows drawn from test.csv, written in row groups of ``GROUP_ROWS``."""
    base = pa.Table.from_pandas(read_csv(DATASET_DIR / "test.csv"), preserve_index=False)
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, base.schema) as writer:
        for start in range(0, rows, GROUP_ROWS):
            size = min(GROUP_ROWS, rows - start)
            writer.write_table(base.take(rng.integers(0, base.num_rows, size)))


def peak_rss(source: Path, target: Path) -> int:
    """Peak RSS (bytes) of ``house-prices score SOURCE TARGET`` in a child process."""
    command = [sys.executable, "-m", "regression_model.batch.cli", "score"]
    child = subprocess.Popen([*command, str(source), str(target)])
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss * 1024


@pytest.mark.process
def test_peak_memory_is_the_same_for_a_file_four_times_as_long(tmp_path: Path) -> None:
    # Given Parquet files of 150,000 and 600,000 rows (three and ten chunks: the
    # allocator reaches its steady state by the second full chunk)
    resampled(tmp_path / "short.parquet", 150_000)
    resampled(tmp_path / "long.parquet", 600_000)
    # When each is scored by the command line in its own process
    short = peak_rss(tmp_path / "short.parquet", tmp_path / "short-out.parquet")
    long = peak_rss(tmp_path / "long.parquet", tmp_path / "long-out.parquet")
    # Then the longer file's peak RSS is within 15% of the shorter one's
    assert pq.ParquetFile(tmp_path / "long-out.parquet").metadata.num_rows == 600_000
    assert abs(long - short) < 0.15 * short, (short, long)
