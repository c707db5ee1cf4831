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
    update,
)

from app.config import Settings
from app.log_wire import DecodedBatch

SQLITE_FILE = "predictions.sqlite3"
# How long a statement waits for another worker's SQLite write lock.
SQLITE_BUSY_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 3
# len("2026-12-06 15:14:17.123456"): SQLAlchemy's SQLite DateTime text.
SQLITE_TIMESTAMP_CHARS = 26

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
    # In WAL mode NORMAL never corrupts the file; a power cut may lose the
    # last commits, not an app crash: a log's trade for no fsync per batch.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


# The columns a logged row fills, in the order ``LogWriter.insert`` writes them.
LOGGED_COLUMNS = (
    "request_id",
    "row",
    "created_at",
    "model_version",
    "features",
    "price",
    "price_lower",
    "price_upper",
    "errors",
    "imputed",
)
_COLUMN_LIST = ", ".join(f'"{name}"' for name in LOGGED_COLUMNS)
_POSTGRES_COPY = f"COPY predictions ({_COLUMN_LIST}) FROM STDIN"
_SQLITE_INSERT = (
    f"INSERT INTO predictions ({_COLUMN_LIST}) "
    f"VALUES ({', '.join('?' for _ in LOGGED_COLUMNS)})"
)


class LogWriter:
    """Writes batches of logged rows the cheapest way each database offers.

    PostgreSQL gets them through ``COPY`` (psycopg's ``Cursor.copy`` on the
    connection SQLAlchemy holds), SQLite through one ``executemany``, so
    neither spends SQLAlchemy's per-row bind processing. JSON values arrive
    as text (``app.log_wire``); times are turned into the text each
    database reads (``timestamp_text``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def timestamp_text(self, moment: datetime) -> str:
        """``moment`` as text this database reads into ``created_at``.

        SQLite gets SQLAlchemy's own DateTime text, which its reads parse:
        ``%Y-%m-%d %H:%M:%S.%f``, the first 26 characters of ``isoformat``
        with a space and microseconds (what ``strftime`` writes, for a few
        times less work per row).
        """
        if self._sqlite:
            return moment.isoformat(" ", "microseconds")[:SQLITE_TIMESTAMP_CHARS]
        return moment.isoformat()

    def insert(self, batches: Sequence[DecodedBatch]) -> None:
        """Insert every row of ``batches`` in one transaction."""
        encoded = []
        for batch in batches:
            request_id, version = batch.request_id, batch.model_version
            created_at = self.timestamp_text(batch.answered_at)
            for row, *values in batch.logged_rows():
                encoded.append((request_id, row, created_at, version, *values))
        with self.engine.begin() as connection:
            if self._sqlite:
                connection.exec_driver_sql(_SQLITE_INSERT, encoded)
                return
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor, cursor.copy(_POSTGRES_COPY) as copy:
                for line in encoded:
                    copy.write_row(line)


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
