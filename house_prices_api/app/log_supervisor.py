"""Keeps the prediction log's writer running: ``python -m app.log_supervisor PATH``.

gunicorn's arbiter replaces workers, not its other children, and has no
hook that runs on its own; a writer killed outright (the OOM killer, a
crash) would stay gone until the arbiter next started a worker, and every
row until then would be dropped. ``bin/start``'s arbiter runs this small
process instead (``gunicorn.conf.py``): it starts the writer
(``python -m app.log_sidecar PATH``) and starts it again when it dies, at
once if it had run for ``STABLE_S``, else after a pause that doubles up to
``MAX_PAUSE_S`` (a writer that cannot start does not spin). SIGTERM is
passed on to the writer, which writes what is left; after ``STOP_TIMEOUT_S``
it is killed. When the arbiter is gone, it stops the writer and ends.
It logs as the arbiter does (gunicorn's line format) and imports neither
the app nor the model (about 23 MiB).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

WRITER_MODULE = "app.log_sidecar"
# A writer that ran this long before it died is started again at once.
STABLE_S = 10.0
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0
# How long a stopping writer may take to write what is left.
STOP_TIMEOUT_S = 10.0
# How often the supervisor looks up from its writer (stop asked, parent gone).
TICK_S = 0.2
# gunicorn's own error-log line, so the arbiter's messages read alike.
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"

logger = logging.getLogger("app.log_supervisor")


class WriterSupervisor:
    """Runs ``command`` (the writer) until stopped, starting it again when it dies."""

    def __init__(
        self,
        command: Sequence[str],
        socket_path: Path,
        *,
        first_pause: float = FIRST_PAUSE_S,
        stop_timeout: float = STOP_TIMEOUT_S,
    ) -> None:
        self.command = list(command)
        self.socket_path = socket_path
        self.first_pause = first_pause
        self.stop_timeout = stop_timeout
        self.parent_pid = os.getppid()
        self.stopping = False
        self.starts = 0

    def stop(self) -> None:
        """Pass SIGTERM on to the writer (within ``TICK_S``) and end once it has.

        Only sets a flag, so it is safe in a signal handler; the wait loop
        signals the writer, once (a second SIGTERM could reach it while the
        interpreter ends, with Python's own handlers already gone).
        """
        self.stopping = True

    def run(self) -> int:
        """Keep the writer running until ``stop``; return the last one's exit status."""
        pause = self.first_pause
        status = 0
        while not self.stopping:
            started = time.monotonic()
            status = self._run_once()
            if self.stopping:
                break
            if time.monotonic() - started >= STABLE_S:
                pause = self.first_pause
                wait = 0.0
            else:
                wait, pause = pause, min(pause * 2, MAX_PAUSE_S)
            logger.error(
                "prediction log: the writer exited (status %s); starting it again "
                "in %.1f s; rows are dropped and counted until then",
                status,
                wait,
            )
            self._sleep(wait)
        return status

    def _run_once(self) -> int:
        """Start one writer and wait for it; stop it if the arbiter goes away."""
        self.socket_path.unlink(missing_ok=True)  # a killed writer leaves its socket
        writer = subprocess.Popen(self.command)
        self.starts += 1
        stop_deadline: float | None = None
        while True:
            try:
                status = writer.wait(TICK_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if not self.stopping and os.getppid() != self.parent_pid:
                logger.warning("prediction log supervisor: the server is gone; stopping")
                self.stop()
            if self.stopping and stop_deadline is None:
                writer.send_signal(signal.SIGTERM)
                stop_deadline = time.monotonic() + self.stop_timeout
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                logger.error("prediction log: the writer did not finish; killed")
                writer.kill()
        # Its live gauges leave the scrape; its counters stay (as gunicorn does
        # for a worker in gunicorn.conf.py's child_exit).
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(writer.pid)  # type: ignore[no-untyped-call]
        return status

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(TICK_S, max(0.0, deadline - time.monotonic())))


def writer_command(socket_path: Path) -> list[str]:
    """The writer process this supervisor keeps running."""
    return [sys.executable, "-m", WRITER_MODULE, str(socket_path)]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m app.log_supervisor PATH``: run the writer on socket ``PATH``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.exit("usage: python -m app.log_supervisor SOCKET_PATH")
    logging.basicConfig(format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT, level=logging.INFO)
    socket_path = Path(args[0])
    supervisor = WriterSupervisor(writer_command(socket_path), socket_path)

    def on_signal(_signal: int, _frame: Any) -> None:
        supervisor.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(supervisor.run())


if __name__ == "__main__":
    main()
