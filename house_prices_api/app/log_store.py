"""The prediction log's table and database: SQLAlchemy Core, SQLite or PostgreSQL.

One table, ``predictions``: one line per row of every logged request, with
the truth beside it once feedback arrives. The schema is created and
migrated by Alembic (``migrations/``, run once per start by
``gunicorn.conf.py``), never by a worker; this module only describes it,
so that inserts and updates are typed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    update,
)

from app.config import Settings

SQLITE_FILE = "predictions.sqlite3"
# How long a statement waits for another worker's SQLite write lock.
SQLITE_BUSY_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 3

metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(128), nullable=False, index=True),
    Column("row", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_version", String(64), nullable=False),
    Column("features", JSON, nullable=True),
    Column("price", Float, nullable=True),
    Column("price_lower", Float, nullable=True),
    Column("price_upper", Float, nullable=True),
    Column("errors", JSON, nullable=True),
    Column("imputed", JSON, nullable=True),
    Column("sale_price", Float, nullable=True),
    Column("sale_date", Date, nullable=True),
    Column("feedback_at", DateTime(timezone=True), nullable=True),
)


def database_url(settings: Settings) -> str:
    """``DATABASE_URL`` with psycopg 3 as the PostgreSQL driver, or the SQLite file.

    Heroku Postgres sets ``postgres://``, a scheme SQLAlchemy 2 no longer
    accepts; it and ``postgresql://`` name the same database.
    """
    if settings.database_url is None:
        folder = Path(settings.prediction_log_dir).resolve()
        return f"sqlite:///{folder / SQLITE_FILE}"
    url = settings.database_url.get_secret_value()
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite in WAL mode so readers never block the writers."""
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=2,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def insert_rows(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column) in one transaction, one executemany."""
    with engine.begin() as connection:
        connection.execute(insert(predictions), list(rows))


@dataclass(frozen=True)
class Feedback:
    """The truth for one logged row, as a client reports it."""

    request_id: str
    row: int
    sale_price: float
    sale_date: date | None
    received_at: datetime


@dataclass(frozen=True)
class Comparison:
    """A logged row's prediction beside its truth (``price`` is None if none was made)."""

    model_version: str
    price: float | None
    sale_price: float

    def squared_log_error(self) -> float | None:
        """The row's term of the RMSLE, or None when the row got no price."""
        if self.price is None:
            return None
        return (math.log1p(self.price) - math.log1p(self.sale_price)) ** 2


def store_feedback(engine: Engine, feedback: Feedback) -> list[Comparison]:
    """Write the truth beside the logged row(s); return what was predicted for them.

    Empty when no logged row has that request id and row number. A client
    may reuse a request id, so every matching row gets the truth.
    """
    statement = (
        update(predictions)
        .where(
            predictions.c.request_id == feedback.request_id,
            predictions.c.row == feedback.row,
        )
        .values(
            sale_price=feedback.sale_price,
            sale_date=feedback.sale_date,
            feedback_at=feedback.received_at,
        )
        .returning(predictions.c.model_version, predictions.c.price)
    )
    with engine.begin() as connection:
        matched = connection.execute(statement).all()
    return [
        Comparison(model_version=version, price=price, sale_price=feedback.sale_price)
        for version, price in matched
    ]
