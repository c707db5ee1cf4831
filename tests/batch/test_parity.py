"""Batch prices equal ``make_prediction``'s for the same rows, to the bit, errors too."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from regression_model import make_prediction
from regression_model.batch import score_file, score_table
from regression_model.config.core import DATASET_DIR
from regression_model.processing.data_manager import read_csv
from tests.batch.support import csv_rows, prices_of, read_output, reference

TEST_CSV = DATASET_DIR / "test.csv"
HOSTILE_NUMBERS = [
    "abc",
    " 65 ",
    "1e3",
    "7.0",
    "inf",
    "-5",
    "1e400",
    "0x10",
    "1_000",
    "+3",
]
HOSTILE_LABELS = [" gd ", "GD", "Xyz", "x" * 40, "20.0", "None", "NA", '"quoted, comma"']


def hostile_csv(path: Path, seed: int = 7) -> Path:
    """test.csv with about one cell in twenty replaced by a hostile one."""
    rng = random.Random(seed)
    with TEST_CSV.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    numeric = {"LotFrontage", "LotArea", "OverallQual", "GrLivArea", "1stFlrSF", "YrSold"}
    for row in body:
        for position, name in enumerate(header):
            if rng.random() < 0.05:
                pool = HOSTILE_NUMBERS if name in numeric else HOSTILE_LABELS
                row[position] = rng.choice(pool)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    return path


def test_test_csv_prices_equal_the_apis_to_the_bit(tmp_path: Path) -> None:
    # Given Kaggle's test.csv and make_prediction on it as the package reads it
    expected = make_prediction(input_data=read_csv(TEST_CSV))
    # When the batch scorer prices the file, CSV -> Parquet, in small chunks
    score_file(TEST_CSV, tmp_path / "out.parquet", chunk_rows=100)
    out = read_output(tmp_path / "out.parquet")
    # Then every price is the same float64, and the same rows are imputed
    prices = prices_of(out)
    reference_prices = np.array(expected["predictions"], dtype=float)
    assert prices.view(np.int64).tolist() == reference_prices.view(np.int64).tolist()
    imputed = {entry["row"]: entry["fields"] for entry in expected["imputed"]}
    assert out.column("imputed").to_pylist() == [
        imputed.get(row, []) for row in range(out.num_rows)
    ]
    assert out.column("line").to_pylist() == list(range(2, out.num_rows + 2))


def test_hostile_csv_prices_and_errors_equal_the_apis(tmp_path: Path) -> None:
    # Given test.csv with hostile cells (bad numbers, odd labels, overlong text)
    source = hostile_csv(tmp_path / "hostile.csv")
    prices, errors = reference(csv_rows(source))
    assert np.isnan(prices).sum() > 50  # the perturbation does refuse rows
    # When the batch scorer prices it
    score_file(source, tmp_path / "out.parquet", chunk_rows=128)
    out = read_output(tmp_path / "out.parquet")
    # Then prices match to the bit and every row has the API's errors, word for word
    assert prices_of(out).view(np.int64).tolist() == prices.view(np.int64).tolist()
    assert out.column("errors").to_pylist() == errors


def test_score_table_on_typed_columns_equals_the_api(tmp_path: Path) -> None:
    # Given test.csv as a typed Arrow table (ints, floats, text), stored as Parquet
    frame = read_csv(TEST_CSV)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "in.parquet")
    expected = np.array(make_prediction(input_data=frame)["predictions"], dtype=float)
    # When score_table prices the table and score_file the Parquet file
    in_memory = score_table(table)
    from_file = score_file(tmp_path / "in.parquet", tmp_path / "out.parquet")
    # Then both give the API's prices, bit for bit, keyed by Id
    assert (
        prices_of(in_memory).view(np.int64).tolist() == expected.view(np.int64).tolist()
    )
    out = read_output(tmp_path / "out.parquet")
    assert prices_of(out).view(np.int64).tolist() == expected.view(np.int64).tolist()
    assert out.column("Id").to_pylist() == frame["Id"].tolist()
    assert from_file.rows == len(frame)
