"""Batch intervals and explanations equal ``make_prediction``'s, to the bit."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from regression_model import make_prediction
from regression_model.batch import score_file, score_table
from regression_model.config.core import DATASET_DIR
from regression_model.processing.data_manager import read_csv
from tests.batch.support import csv_rows, read_output
from tests.batch.test_parity import hostile_csv

TEST_CSV = DATASET_DIR / "test.csv"


def bits(values: list[float | None]) -> list[int]:
    """Each value's float64 bits; NaN for a null, so nulls must line up too."""
    floats = np.array([np.nan if v is None else v for v in values], dtype=float)
    return floats.view(np.int64).tolist()


def expected_intervals(
    intervals: list[list[float] | None],
) -> tuple[list[int], list[int]]:
    lows = [None if pair is None else pair[0] for pair in intervals]
    highs = [None if pair is None else pair[1] for pair in intervals]
    return bits(lows), bits(highs)


def test_test_csv_intervals_equal_the_apis_to_the_bit(tmp_path: Path) -> None:
    # Given test.csv and make_prediction's intervals for it
    expected = make_prediction(input_data=read_csv(TEST_CSV))
    lows, highs = expected_intervals(expected["intervals"])
    # When the batch scorer prices the file into Parquet and into CSV
    score_file(TEST_CSV, tmp_path / "out.parquet", chunk_rows=100)
    score_file(TEST_CSV, tmp_path / "out.csv", chunk_rows=100)
    out = read_output(tmp_path / "out.parquet")
    # Then each row's interval is the API's, bit for bit, null where it has none
    assert bits(out.column("interval_low").to_pylist()) == lows
    assert bits(out.column("interval_high").to_pylist()) == highs
    with (tmp_path / "out.csv").open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [float(row["interval_low"]) for row in written] == pytest.approx(
        out.column("interval_low").to_pylist(), rel=1e-15
    )


def test_hostile_rows_have_null_intervals_where_the_api_has_none(tmp_path: Path) -> None:
    # Given hostile test.csv rows (many refused) and the API on the same rows
    source = hostile_csv(tmp_path / "hostile.csv")
    expected = make_prediction(input_data=csv_rows(source))
    lows, highs = expected_intervals(expected["intervals"])
    # When the batch scorer prices them
    score_file(source, tmp_path / "out.parquet", chunk_rows=128)
    out = read_output(tmp_path / "out.parquet")
    # Then the intervals, nulls included, are the API's
    assert out.column("interval_low").null_count > 50
    assert bits(out.column("interval_low").to_pylist()) == lows
    assert bits(out.column("interval_high").to_pylist()) == highs


def test_explain_columns_equal_the_apis_explanations(tmp_path: Path) -> None:
    # Given hostile test.csv rows and make_prediction(explain=True) on them
    source = hostile_csv(tmp_path / "hostile.csv")
    expected = make_prediction(input_data=csv_rows(source), explain=True)
    by_row = {entry["row"]: entry for entry in expected["explanations"]}
    features = [c["feature"] for c in expected["explanations"][0]["contributions"]]
    # When the file is scored with explain=True
    score_file(source, tmp_path / "out.parquet", chunk_rows=128, explain=True)
    out = read_output(tmp_path / "out.parquet")
    # Then base and every contribution are the API's numbers, null for unpriced rows
    rows = range(out.num_rows)
    bases = [by_row[r]["base_log_price"] if r in by_row else None for r in rows]
    assert bits(out.column("base_log_price").to_pylist()) == bits(bases)
    for position, feature in enumerate(features):
        wanted = [
            by_row[r]["contributions"][position]["log_contribution"]
            if r in by_row
            else None
            for r in rows
        ]
        got = out.column(f"contrib_{feature}").to_pylist()
        assert bits(got) == bits(wanted), feature
    assert out.column("base_log_price").null_count == out.column("price").null_count


def test_score_table_explains_on_request_only() -> None:
    # Given test.csv as a typed Arrow table
    frame = read_csv(TEST_CSV)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # When score_table runs without and with explain
    plain = score_table(table)
    explained = score_table(table, explain=True)
    # Then only the explained result has the base and contribution columns,
    # and each priced row's base plus contributions is its log price
    assert "base_log_price" not in plain.column_names
    contributions = [n for n in explained.column_names if n.startswith("contrib_")]
    assert len(contributions) > 10
    total = np.asarray(explained.column("base_log_price").to_numpy(zero_copy_only=False))
    for name in contributions:
        total = total + np.asarray(explained.column(name).to_numpy(zero_copy_only=False))
    prices = np.asarray(explained.column("price").to_numpy(zero_copy_only=False))
    priced = np.isfinite(prices)
    assert priced.sum() == explained.num_rows - explained.column("price").null_count > 0
    np.testing.assert_allclose(total[priced], np.log(prices[priced]), rtol=1e-9)
