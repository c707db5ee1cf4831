"""gunicorn's server hooks for ``bin/start`` (passed with ``--config``).

The arbiter runs them, once per start, not once per worker:
``on_starting`` imports the modules every worker needs
(``PRELOADED_MODULES``: the workers it forks share those pages), brings
the prediction log's schema to Alembic's newest revision and starts the
log's writer (``python -m app.log_sidecar``, one process for all workers,
its socket named to them in ``PREDICTION_LOG_SOCKET``) before any worker
forks, under a small supervisor (``python -m app.log_supervisor``) that
starts the writer again within a second if it dies; ``pre_fork`` starts
the supervisor again if it died itself; ``child_exit`` marks a gone
worker's metric files, so its live gauges leave the scrape while its
counts stay; ``on_exit``, once every worker has stopped (and sent what it
held), stops the writer, which writes what is left, and removes the
folders this start made.
One runs in each worker once it is set up: ``post_worker_init`` shortens
the GIL's switch interval (see ``GIL_SWITCH_INTERVAL_S``).

Every worker is forked from the arbiter and starts with all it holds, so
the arbiter holds what every worker needs and nothing else: the migration
runs in a child process (``python -m app.migrate``), and Alembic, its
templates and its database connection never enter the arbiter or, through
it, a worker.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

# Set by bin/start to the folder it created (never to one the operator chose).
OWNED_METRICS_DIR_ENV = "HOUSE_PRICES_OWNED_METRICS_DIR"
MIGRATE_COMMAND = (sys.executable, "-m", "app.migrate")
SUPERVISOR_COMMAND = (sys.executable, "-m", "app.log_supervisor")
WRITER_START_TIMEOUT_S = 30.0
# Beyond the supervisor's own limit for the writer's last insert.
SUPERVISOR_STOP_MARGIN_S = 5.0
# The service's folder, where `app` is importable (this file sits in it).
SERVICE_DIR = Path(__file__).resolve().parent
# How long the event loop may wait for the GIL while another thread of the
# worker (a large batch in the prediction pool, a feedback look-up) holds
# it; Python's default, 5 ms, puts that whole wait on the requests in flight.
GIL_SWITCH_INTERVAL_S = 0.0005
# What every worker imports, imported once in the arbiter: the workers it forks
# share these pages instead of each importing (and keeping) its own copy. Only
# modules: no app is built and no model loaded here (an onnxruntime session
# must not cross a fork).
PRELOADED_MODULES = ("app.main",)


def on_starting(server: Any) -> None:
    """Import the workers' modules; migrate the prediction log and start the writer
    (which also counts the per-row metrics); a database that is down only delays
    the log."""
    for module in PRELOADED_MODULES:
        importlib.import_module(module)
    from app.config import Settings  # noqa: PLC0415 - the app's settings load here, once

    settings = Settings()
    if not settings.prediction_log and not settings.metrics:
        return
    migration = (
        subprocess.run(
            MIGRATE_COMMAND, cwd=SERVICE_DIR, capture_output=True, text=True, check=False
        )
        if settings.prediction_log
        else None
    )
    if migration is not None and migration.returncode != 0:
        server.log.error(
            "prediction log: migrating the database failed (%s); the service "
            "starts, and rows are dropped and counted until it is migrated "
            "(python -m app.migrate)",
            raised(migration.stderr) or f"exit status {migration.returncode}",
        )
    if settings.prediction_log_socket is not None:
        return  # the operator runs the writer (python -m app.log_supervisor PATH)
    from app.log_wire import SOCKET_ENV, fresh_socket_path  # noqa: PLC0415

    server.log_writer_socket = fresh_socket_path()
    # Set on the arbiter, and so on every worker it forks.
    os.environ[SOCKET_ENV] = str(server.log_writer_socket)
    start_writer(server)


def start_writer(server: Any) -> None:
    """Start the log's writer under its supervisor; wait until its socket is there."""
    socket_path: Path = server.log_writer_socket
    socket_path.unlink(missing_ok=True)
    server.log_supervisor = supervisor = subprocess.Popen(
        (*SUPERVISOR_COMMAND, str(socket_path)), cwd=SERVICE_DIR
    )
    deadline = time.monotonic() + WRITER_START_TIMEOUT_S
    while not socket_path.exists():
        if supervisor.poll() is not None or time.monotonic() > deadline:
            server.log.error(
                "prediction log: the writer did not start (exit status %s); rows "
                "are dropped and counted until it does",
                supervisor.returncode,
            )
            return
        time.sleep(0.02)


def pre_fork(server: Any, _worker: Any) -> None:
    """Start the writer's supervisor again if it died (checked whenever a worker
    starts; the supervisor itself restarts the writer)."""
    supervisor = getattr(server, "log_supervisor", None)
    if supervisor is not None and supervisor.poll() is not None:
        server.log.error(
            "prediction log: the writer's supervisor exited (status %s); starting "
            "it again",
            supervisor.returncode,
        )
        start_writer(server)


def post_worker_init(_worker: Any) -> None:
    """In the worker: hand the GIL over after ``GIL_SWITCH_INTERVAL_S``, not 5 ms."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def raised(stderr: str) -> str:
    """The exception at the end of a traceback (after its last frame), on one line.

    A frame is a ``  File ...`` line and the indented source lines under it;
    what follows the last frame is the exception, continuation lines too.
    """
    lines = stderr.rstrip().splitlines()
    files = [index for index, line in enumerate(lines) if line.startswith('  File "')]
    after = lines[files[-1] + 1 :] if files else lines
    while after and after[0].startswith("    "):
        after = after[1:]
    return " ".join(line.strip() for line in after)


def child_exit(_server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the sum, keep its counters."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Stop the log's writer (it writes what is left); remove this start's folders."""
    supervisor = getattr(server, "log_supervisor", None)
    if supervisor is not None and supervisor.poll() is None:
        from app.log_supervisor import STOP_TIMEOUT_S  # noqa: PLC0415

        supervisor.send_signal(signal.SIGTERM)  # it passes it on to the writer
        try:
            supervisor.wait(STOP_TIMEOUT_S + SUPERVISOR_STOP_MARGIN_S)
        except subprocess.TimeoutExpired:
            server.log.error(
                "prediction log: the writer's supervisor did not finish; killed"
            )
            supervisor.kill()
            supervisor.wait()
    socket_path = getattr(server, "log_writer_socket", None)
    if socket_path is not None:
        shutil.rmtree(socket_path.parent, ignore_errors=True)
    owned = os.environ.get(OWNED_METRICS_DIR_ENV)
    if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(owned, ignore_errors=True)
