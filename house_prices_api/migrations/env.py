"""Alembic's environment: the URL comes from the caller (``app.migrate``), online only."""

from __future__ import annotations

from alembic import context
from app.log_store import metadata
from sqlalchemy import create_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("app.migrate sets sqlalchemy.url; run migrations through it")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
