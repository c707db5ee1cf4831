"""The drift report on known data: held-out rows pass, shifted rows fail on the shift.

The held-out split (``test.csv``) comes from the same sales as the training
snapshot, so nothing may be flagged; a copy with three features moved must
be flagged on exactly those three. The log is read back from a real SQLite
file written the way the service writes it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from monitoring.cli import main
from monitoring.snapshot import age_of, packaged_metadata

SHIFTED = {"GrLivArea", "LotArea", "KitchenQual"}


def held_out_rows() -> list[dict[str, str]]:
    text = (resources.files("regression_model") / "datasets" / "test.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def shift(row: dict[str, str]) -> dict[str, str]:
    """Bigger houses on bigger lots, every kitchen excellent; nothing else moves."""
    return {
        **row,
        "GrLivArea": str(float(row["GrLivArea"]) * 1.6),
        "LotArea": str(float(row["LotArea"]) * 3),
        "KitchenQual": "Ex",
    }


def findings(out: Path) -> list[dict[str, Any]]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    found: list[dict[str, Any]] = summary["findings"]
    return found


def test_held_out_rows_show_no_drift(tmp_path: Path) -> None:
    # Given the held-out split as live rows
    rows = write_csv(tmp_path / "rows.csv", held_out_rows())
    # When the report runs on them
    code = main(["--csv", str(rows), "--out", str(tmp_path / "report")])
    # Then it passes, with a page, a plot per feature shown and a summary
    assert code == 0
    assert findings(tmp_path / "report") == []
    assert (tmp_path / "report" / "index.html").read_text().count("<img") > 0
    assert (tmp_path / "report" / "GrLivArea.png").stat().st_size > 0


def test_shifted_features_and_only_they_drift(tmp_path: Path) -> None:
    # Given the held-out rows with three features moved
    rows = write_csv(tmp_path / "rows.csv", [shift(row) for row in held_out_rows()])
    # When the report runs on them
    code = main(["--csv", str(rows), "--out", str(tmp_path / "report")])
    # Then it fails, naming exactly the three features as drifted
    assert code == 1
    drifted = {
        f["subject"] for f in findings(tmp_path / "report") if f["check"] == "drift"
    }
    assert drifted == SHIFTED


def test_the_log_is_read_with_live_accuracy_unseen_labels_and_since(
    tmp_path: Path,
) -> None:
    # Given a prediction log with 60 priced rows sold for 10% more than predicted,
    # one in five with a label training never saw, and an older row to leave out
    database = tmp_path / "predictions.sqlite3"
    connection = sqlite3.connect(database)
    connection.execute(
        "CREATE TABLE predictions (request_id TEXT, created_at TIMESTAMP,"
        " model_version TEXT, features JSON, price FLOAT, imputed JSON, sale_price FLOAT)"
    )
    lines = []
    for index, row in enumerate(held_out_rows()[:60]):
        features = {**row, "ExterQual": "Po" if index % 5 == 0 else row["ExterQual"]}
        price = float(row["SalePrice"])
        lines.append(
            (
                f"r{index}",
                "2026-12-02 10:00:00",
                "0.3.0",
                json.dumps(features),
                price,
                "[]",
                price * 1.1,
            )
        )
    lines.append(("old", "2026-11-01 10:00:00", "0.3.0", "{}", 1.0, "[]", 1e9))
    connection.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)", lines)
    connection.commit()
    connection.close()
    # When the report reads the log since December
    code = main(
        [
            "--database-url",
            f"sqlite:///{database}",
            "--since",
            "2026-12-01",
            "--out",
            str(tmp_path / "report"),
        ]
    )
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    # Then the old row is left out, live RMSLE is log(1.1), the unseen label flagged
    assert summary["live_rows"] == 60
    assert summary["feedback"]["rmsle"] == pytest.approx(0.0953, abs=1e-3)
    unseen = {f["subject"] for f in summary["findings"] if f["check"] == "unseen_labels"}
    assert unseen == {"ExterQual"}
    assert code == 1


def test_an_old_model_is_stale(tmp_path: Path) -> None:
    # Given a limit of zero days on the model's age
    limits = (Path(__file__).parents[1] / "thresholds.toml").read_text()
    strict = tmp_path / "thresholds.toml"
    strict.write_text(
        limits.replace("max_model_age_days = 365", "max_model_age_days = 0")
    )
    rows = write_csv(tmp_path / "rows.csv", held_out_rows())
    # When the report runs
    code = main(
        ["--csv", str(rows), "--thresholds", str(strict), "--out", str(tmp_path / "r")]
    )
    # Then staleness alone fails it
    assert code == 1
    assert [f["check"] for f in findings(tmp_path / "r")] == ["staleness"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--since", "yesterday"],
        ["--csv", "/no/such/rows.csv"],
        ["--database-url", "sqlite:////no/such/log.sqlite3"],
    ],
    ids=["bad-date", "missing-csv", "missing-log"],
)
def test_bad_usage_exits_2(argv: list[str], tmp_path: Path) -> None:
    # When the command is called wrongly
    try:
        code = main([*argv, "--out", str(tmp_path / "r")])
    except SystemExit as exit_:  # argparse's own exit
        code = int(exit_.code or 0)
    # Then it exits 2
    assert code == 2


def test_model_age_prefers_the_recorded_commit_time(tmp_path: Path) -> None:
    # Given the packaged metadata, once with a source commit time and once
    # without it, for a commit no repository holds
    metadata = packaged_metadata()
    trained_with = {**metadata["trained_with"], "source_commit": "0" * 40}
    trained_with.pop("source_commit_time", None)
    rows = [{"YrSold": "2010", "MoSold": "7"}]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    stamped = {
        **metadata,
        "trained_with": {**trained_with, "source_commit_time": "2026-11-01T00:00:00Z"},
    }
    # When the model's age is computed for each
    recorded = age_of(stamped, rows, now, tmp_path)
    fallback = age_of({**metadata, "trained_with": trained_with}, rows, now, tmp_path)
    # Then the recorded time is used; without it, the month after the newest sale
    assert (recorded.basis, recorded.days) == ("source commit time", 30)
    assert fallback.basis == "newest training sale"
    assert fallback.since == datetime(2010, 8, 1, tzinfo=UTC)
