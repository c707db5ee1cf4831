"""The live side: rows from the prediction log (SQLite or PostgreSQL) or from a CSV file.

A long read of the log shows a progress bar when stderr is a terminal.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
)

from monitoring.snapshot import TARGET

# The log's columns the report reads (house_prices_api/app/log_store.py owns the table).
_log = Table(
    "predictions",
    MetaData(),
    Column("request_id", String),
    Column("created_at", DateTime(timezone=True)),
    Column("model_version", String),
    Column("features", JSON),
    Column("price", Float),
    Column("imputed", JSON),
    Column("sale_price", Float),
)
CHUNK_ROWS = 5000
PRICE_COLUMN = "price"


@dataclass
class LiveRows:
    """Rows as they arrived, with what was predicted, imputed and (later) paid."""

    features: list[dict[str, Any]] = field(default_factory=list)
    prices: list[float | None] = field(default_factory=list)
    sale_prices: list[float | None] = field(default_factory=list)
    imputed: list[list[str]] | None = None


class Progress:
    """A one-line bar on a terminal; silent when stderr is a file or a pipe."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.shown = stream.isatty() and total > CHUNK_ROWS

    def update(self, done: int) -> None:
        if self.shown:
            filled = int(30 * done / max(self.total, 1))
            self.stream.write(
                f"\rreading the log [{'#' * filled:<30}] {done:,}/{self.total:,} rows"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def sqlalchemy_url(url: str) -> str:
    """Heroku's ``postgres://`` and plain ``postgresql://`` with psycopg 3."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def read_log(url: str, since: datetime | None) -> LiveRows:
    """Every logged row since ``since`` (all when None), oldest first."""
    engine = create_engine(sqlalchemy_url(url))
    where = [_log.c.created_at >= since] if since is not None else []
    live = LiveRows(imputed=[])
    try:
        with engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(_log).where(*where)
            ).scalar_one()
            progress = Progress(total)
            query = (
                select(_log.c.features, _log.c.price, _log.c.imputed, _log.c.sale_price)
                .where(*where)
                .order_by(_log.c.created_at)
            )
            result = connection.execution_options(yield_per=CHUNK_ROWS).execute(query)
            for done, (features, price, imputed, sale_price) in enumerate(
                result, start=1
            ):
                live.features.append(features if isinstance(features, dict) else {})
                live.prices.append(price)
                live.sale_prices.append(sale_price)
                assert live.imputed is not None
                live.imputed.append(list(imputed or []))
                if done % CHUNK_ROWS == 0:
                    progress.update(done)
            progress.update(total)
            progress.close()
    finally:
        engine.dispose()
    return live


def read_csv(path: Path) -> LiveRows:
    """Rows of a CSV in Kaggle's columns, with ``price`` and ``SalePrice`` if present."""
    live = LiveRows()
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            live.features.append(
                {
                    key: (None if value in ("", "NA") else value)
                    for key, value in record.items()
                }
            )
            live.prices.append(_number_or_none(record.get(PRICE_COLUMN)))
            live.sale_prices.append(_number_or_none(record.get(TARGET)))
    return live


def _number_or_none(value: str | None) -> float | None:
    if value in (None, "", "NA"):
        return None
    try:
        return float(json.loads(value)) if value else None
    except (ValueError, TypeError):
        return None
