"""gunicorn's server hooks for ``bin/start`` (passed with ``--config``).

The arbiter runs them, once per start, not once per worker:
``on_starting`` brings the prediction log's schema to Alembic's newest
revision before any worker forks; ``child_exit`` marks a gone worker's
metric files, so its live gauges leave the scrape while its counts stay;
``on_exit`` removes the metrics folder ``bin/start`` made for this start.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from prometheus_client import multiprocess

# Set by bin/start to the folder it created (never to one the operator chose).
OWNED_METRICS_DIR_ENV = "HOUSE_PRICES_OWNED_METRICS_DIR"


def on_starting(server: Any) -> None:
    """Migrate the prediction log; a database that is down only delays the log."""
    from app.config import Settings  # noqa: PLC0415 - the app's deps load here, once
    from app.log_store import database_url  # noqa: PLC0415
    from app.migrate import upgrade  # noqa: PLC0415

    settings = Settings()
    if not settings.prediction_log:
        return
    try:
        upgrade(database_url(settings))
    except Exception as error:
        server.log.error(
            "prediction log: migrating the database failed (%s: %s); the service "
            "starts, and rows are dropped and counted until it is migrated "
            "(python -m app.migrate)",
            type(error).__name__,
            error,
        )


def child_exit(_server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the sum, keep its counters."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: Any) -> None:
    """Remove the metrics folder bin/start created for this start."""
    owned = os.environ.get(OWNED_METRICS_DIR_ENV)
    if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(owned, ignore_errors=True)
