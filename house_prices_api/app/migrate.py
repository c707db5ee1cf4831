"""Bring the prediction log's schema to the newest Alembic revision.

Run once per start, before the workers fork (``gunicorn.conf.py``'s
``on_starting``), or by hand: ``python -m app.migrate`` from the service's
folder, with the same environment as the service.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import Settings
from app.log_store import database_url, make_engine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def upgrade(url: str) -> None:
    """Apply every migration ``url``'s database lacks (creating the SQLite file)."""
    make_engine(url).dispose()  # creates the SQLite folder; PostgreSQL: nothing
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def main() -> None:
    """Migrate the database the service's settings name."""
    upgrade(database_url(Settings()))


if __name__ == "__main__":
    main()
