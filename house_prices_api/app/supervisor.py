"""``python -m app.supervisor``: several uvicorn workers; exit 3 if one cannot start.

Takes uvicorn's own command line. A worker whose start-up fails (a model
that fails its checks: see ``app.model``) exits with uvicorn's start-up
failure status, 3; uvicorn's supervisor notices, stops the other workers
and then exits 0, which tells an orchestrator that the service stopped
normally. This supervisor exits 3 instead. ``bin/start`` used to check the
model in a separate process before starting uvicorn, which gave the same
exit status but added about 0.4 s to every start with several workers.
"""

from __future__ import annotations

import importlib
from typing import Any

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

# The module: the package's ``uvicorn.main`` attribute is the command, not it.
uvicorn_main: Any = importlib.import_module("uvicorn.main")


class StartupCheckingMultiprocess(Multiprocess):
    """uvicorn's supervisor; exits 3 if it stopped as a worker could not start."""

    def run(self) -> None:
        super().run()
        if any(process.exitcode == STARTUP_FAILURE for process in self.processes):
            raise SystemExit(STARTUP_FAILURE)


def main(argv: list[str] | None = None) -> None:
    """Run uvicorn's command line with ``StartupCheckingMultiprocess`` supervising."""
    # ``uvicorn.main.run`` looks the supervisor class up in its module when it runs.
    uvicorn_main.Multiprocess = StartupCheckingMultiprocess
    uvicorn_main.main(args=argv, prog_name="uvicorn")


if __name__ == "__main__":
    main()
