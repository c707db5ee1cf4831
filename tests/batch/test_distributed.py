"""The Dask engine gives what the single-process run gives, row for row."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from regression_model.batch import score_file
from tests.batch.support import read_output
from tests.batch.test_parity import hostile_csv

pytest.importorskip("distributed")


@pytest.mark.process
def test_two_worker_cluster_equals_the_single_process_run(tmp_path: Path) -> None:
    # Given hostile test.csv rows stored as Parquet in several row groups, Id dropped
    score_file(hostile_csv(tmp_path / "in.csv"), tmp_path / "typed.parquet")
    rows = pq.read_table(tmp_path / "typed.parquet").num_rows
    source = pacsv.read_csv(tmp_path / "in.csv").drop_columns(["Id"])
    pq.write_table(source, tmp_path / "in.parquet", row_group_size=100)
    # When it is scored in one process and on a 2-worker LocalCluster
    score_file(tmp_path / "in.parquet", tmp_path / "local.parquet")
    summary = score_file(
        tmp_path / "in.parquet", tmp_path / "parts", engine="dask", workers=2
    )
    # Then the partitioned output, read in order, equals the single-process output
    local = read_output(tmp_path / "local.parquet")
    distributed = read_output(tmp_path / "parts")
    assert summary.rows == rows == distributed.num_rows
    assert len(list((tmp_path / "parts").iterdir())) == 6
    assert distributed.equals(local)
    assert distributed.column("row").to_pylist() == list(range(rows))
