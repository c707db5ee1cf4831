"""The command: read the live rows, compare, judge, write; exit 0, 1 or 2.

``python -m monitoring --since 2026-12-01 --out reports/monitor`` reads the
prediction log the service writes (``DATABASE_URL``, else SQLite under
``PREDICTION_LOG_DIR``, as the service resolves it); ``--csv rows.csv``
reads rows from a file instead. Exit 1 when a threshold of
``thresholds.toml`` (or ``--thresholds``) is crossed, so cron or CI can
alert; 2 on bad usage or input.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from monitoring.report import compare, judge, summarise, write
from monitoring.snapshot import model_age, schema_features, training_rows
from monitoring.sources import LiveRows, read_csv, read_log

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")
REPO = Path(__file__).resolve().parents[1]
SQLITE_FILE = "predictions.sqlite3"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--since", type=_date, help="only rows logged from this day (YYYY-MM-DD, UTC)"
    )
    parser.add_argument(
        "--csv",
        type=Path,
        help="read rows from this CSV (Kaggle's columns) instead of the log",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the log's database (default: DATABASE_URL, else SQLite under "
        "PREDICTION_LOG_DIR)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports/monitor"),
        help="folder for index.html, summary.json and the plots",
    )
    parser.add_argument(
        "--thresholds",
        type=Path,
        default=DEFAULT_THRESHOLDS,
        help="TOML file of thresholds",
    )
    return parser.parse_args(argv)


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def log_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    folder = Path(os.environ.get("PREDICTION_LOG_DIR", REPO / "house_prices_api" / "var"))
    return f"sqlite:///{folder.resolve() / SQLITE_FILE}"


def read_live(args: argparse.Namespace) -> LiveRows:
    if args.csv is not None:
        return read_csv(args.csv)
    url = log_url(args)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise FileNotFoundError(
            f"no prediction log at {url}; set DATABASE_URL or PREDICTION_LOG_DIR, "
            "or pass --csv"
        )
    return read_log(url, args.since)


def main(argv: list[str] | None = None) -> int:
    """Run the report; the exit status says whether a threshold was crossed."""
    args = parse_args(argv)
    try:
        thresholds: dict[str, Any] = tomllib.loads(
            args.thresholds.read_text(encoding="utf-8")
        )
        live = read_live(args)
    except (
        OSError,
        tomllib.TOMLDecodeError,
        UnicodeDecodeError,
        SQLAlchemyError,
    ) as error:
        print(f"monitoring: {error}", file=sys.stderr)
        return 2
    if not live.features:
        print("monitoring: no live rows to compare", file=sys.stderr)
        return 2
    training = training_rows()
    drifts = compare(schema_features(), training, live)
    summary = summarise(
        training, live, drifts, model_age(training, datetime.now(UTC), REPO)
    )
    findings = judge(drifts, summary, thresholds)
    write(
        args.out,
        summary=summary,
        findings=findings,
        training=training,
        live=live,
        drifts=drifts,
    )
    for finding in findings:
        print(f"{finding.check}: {finding.subject} = {finding.value:.4g}", end=" ")
        print(f"(limit {finding.limit:.4g})")
    verdict = "threshold crossed" if findings else "all checks passed"
    print(f"report: {args.out / 'index.html'} ({verdict})")
    return 1 if findings else 0
