"""Bad input: bad rows get their errors and the run goes on; an unusable file exits 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from regression_model.batch import score_file
from regression_model.batch.cli import app
from regression_model.config.core import DATASET_DIR
from regression_model.processing.validation import REQUIRED_MESSAGE, ROW_LEVEL
from tests.batch.support import prices_of, read_output

TEST_CSV = DATASET_DIR / "test.csv"
RUNNER = CliRunner()


def first_lines(path: Path, count: int) -> list[str]:
    return TEST_CSV.read_text().splitlines()[:count] if path == TEST_CSV else []


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_malformed_line_is_an_error_row_in_its_place(tmp_path: Path) -> None:
    # Given a CSV whose third data line has a field too few
    lines = first_lines(TEST_CSV, 6)
    lines[3] = lines[3].rsplit(",", 1)[0]
    source = write_lines(tmp_path / "in.csv", lines)
    # When it is scored
    summary = score_file(source, tmp_path / "out.parquet")
    out = read_output(tmp_path / "out.parquet")
    # Then the run goes on: five rows, the bad one in its place with its line and error
    assert summary.rows == 5
    assert out.column("line").to_pylist() == [2, 3, 4, 5, 6]
    errors = out.column("errors").to_pylist()
    assert errors[2][0]["field"] == ROW_LEVEL
    assert (
        "malformed CSV line: 80 fields where the header has 81" in errors[2][0]["message"]
    )
    assert np.isnan(prices_of(out)[2])
    assert not np.isnan(prices_of(out)[[0, 1, 3, 4]]).any()


def test_a_wrong_delimiter_gives_every_row_an_error_naming_it(tmp_path: Path) -> None:
    # Given test.csv's rows written with semicolons
    lines = [line.replace(",", ";") for line in first_lines(TEST_CSV, 4)]
    source = write_lines(tmp_path / "in.csv", lines)
    # When it is scored
    score_file(source, tmp_path / "out.csv")
    out = (tmp_path / "out.csv").read_text().splitlines()
    # Then each of the three rows says the file has none of the model's columns
    assert len(out) == 4
    assert all("none of the model's columns" in line for line in out[1:])
    assert all("delimited by ','" in line for line in out[1:])


def test_without_id_rows_are_numbered(tmp_path: Path) -> None:
    # Given a CSV without the Id column
    lines = [line.split(",", 1)[1] for line in first_lines(TEST_CSV, 4)]
    source = write_lines(tmp_path / "in.csv", lines)
    # When it is scored
    score_file(source, tmp_path / "out.parquet")
    out = read_output(tmp_path / "out.parquet")
    # Then the output numbers the rows from 0 and prices them all
    assert out.column_names[:2] == ["row", "line"]
    assert out.column("row").to_pylist() == [0, 1, 2]
    assert out.column("price").null_count == 0


def test_a_column_of_the_wrong_type_errors_only_its_bad_cells(tmp_path: Path) -> None:
    # Given a CSV whose GrLivArea (required) holds text in one row past the first block
    lines = first_lines(TEST_CSV, 301)
    header = lines[0].split(",")
    at = header.index("GrLivArea")
    cells = lines[250].split(",")
    cells[at] = "large"
    lines[250] = ",".join(cells)
    source = write_lines(tmp_path / "in.csv", lines)
    # When it is scored in chunks smaller than the file
    score_file(source, tmp_path / "out.parquet", chunk_rows=64)
    out = read_output(tmp_path / "out.parquet")
    # Then only that row is refused, with the schema's words and its line
    refused = np.flatnonzero(np.isnan(prices_of(out))).tolist()
    assert refused == [249]
    assert out.column("line")[249].as_py() == 251
    assert out.column("errors")[249].as_py() == [
        {
            "field": "GrLivArea",
            "message": "Input should be a valid number, unable to parse string as a "
            "number (got 'large')",
        }
    ]


def test_parquet_with_unexpected_types_errors_the_bad_rows(tmp_path: Path) -> None:
    # Given a Parquet file whose OverallQual is text, CentralAir boolean, GrLivArea null
    table = pa.table(
        {
            "Id": pa.array([1, 2, 3], pa.int32()),
            "OverallQual": ["7", "seven", None],
            "CentralAir": [True, None, None],
            "GrLivArea": pa.array([1500.0, 1500.0, None], pa.float32()),
            "Neighborhood": ["NAmes", "NAmes", "NAmes"],
            "1stFlrSF": [1000, 1000, 1000],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    # When it is scored
    score_file(tmp_path / "in.parquet", tmp_path / "out.parquet")
    out = read_output(tmp_path / "out.parquet")
    # Then each row's errors name its field and problem; the Id keeps its type
    assert out.schema.field("Id").type == pa.int32()
    errors = out.column("errors").to_pylist()
    assert {e["field"] for e in errors[0]} == {"CentralAir"}
    assert {e["field"] for e in errors[1]} == {"OverallQual"}
    assert {"field": "GrLivArea", "message": REQUIRED_MESSAGE} in errors[2]
    assert out.column("price").null_count == 3


def test_an_unknown_format_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    # Given an input with an unknown suffix
    source = tmp_path / "in.xlsx"
    source.write_bytes(b"PK\x03\x04")
    # When the CLI is asked to score it
    result = RUNNER.invoke(app, ["score", str(source), str(tmp_path / "out.parquet")])
    # Then it exits 2 naming the file and the format, and writes nothing
    assert result.exit_code == 2
    assert "in.xlsx: unknown format '.xlsx'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx"]


def test_an_unreadable_parquet_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    # Given a .parquet file that is not Parquet
    source = tmp_path / "in.parquet"
    source.write_text("Id,GrLivArea\n1,1500\n")
    # When the CLI scores it
    result = RUNNER.invoke(app, ["score", str(source), str(tmp_path / "out.csv")])
    # Then it exits 2 naming the file, and no output (not even a partial one) exists
    assert result.exit_code == 2
    assert "in.parquet: cannot be read as parquet" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_an_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    # Given an output that exists
    target = tmp_path / "out.csv"
    target.write_text("keep me\n")
    # When the CLI scores into it without and then with --overwrite
    refused = RUNNER.invoke(app, ["score", str(TEST_CSV), str(target)])
    kept = target.read_text()
    replaced = RUNNER.invoke(app, ["score", str(TEST_CSV), str(target), "--overwrite"])
    # Then the first run exits 2 and leaves it; the second replaces it
    assert refused.exit_code == 2
    assert "exists; pass --overwrite" in refused.output
    assert kept == "keep me\n"
    assert replaced.exit_code == 0, replaced.output
    assert target.read_text().startswith('"Id","line","price","errors","imputed"')
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_cli_explain_adds_the_contribution_columns(tmp_path: Path) -> None:
    # Given the current model, which offers explanations
    # When the CLI is asked for them into a CSV
    result = RUNNER.invoke(
        app, ["score", str(TEST_CSV), str(tmp_path / "out.csv"), "--explain"]
    )
    # Then it succeeds and the header carries the interval, base and contributions
    assert result.exit_code == 0, result.output
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert '"interval_low","interval_high","base_log_price","contrib_' in header
