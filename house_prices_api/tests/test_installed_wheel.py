"""The whole `tox -e serve` path: publish, install in a fresh venv, serve from the wheel.

Slow (it creates a virtual environment and installs the service's
requirements into it), but it is the only test that proves the wheel on the
index is complete and that the server does not lean on the checkout.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import REPO_ROOT, RunningServer, call, free_port, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE
from scripts.package_index import PID_FILE, index_process_on, stop_local_index

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def venv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "venv"


@pytest.fixture(scope="module")
def index_dir(venv_dir: Path) -> Path:
    return venv_dir.parent / "index"


@pytest.fixture(scope="module")
def index_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def served_from_wheel(
    venv_dir: Path, index_dir: Path, index_port: int
) -> Iterator[RunningServer]:
    """``python -m scripts.serve`` exactly as ``tox -e serve`` runs it: no PYTHONPATH."""
    command = [
        sys.executable, "-m", "scripts.serve",
        "--venv", str(venv_dir),
        "--index-dir", str(index_dir),
        "--index-port", str(index_port),
    ]  # fmt: skip
    try:
        server = start_server(
            command,
            venv_dir.parent / "serve.log",
            unset=("PYTHONPATH",),
            cwd=REPO_ROOT,
            ready_timeout=900,
        )
        yield server
        server.stop()
    finally:
        stop_local_index(index_dir)


def test_the_wheel_serves_health_and_predictions(
    served_from_wheel: RunningServer,
) -> None:
    conn = served_from_wheel.connect()

    status, _, health = call(conn, "GET", "/api/v1/health")
    assert status == 200
    assert health["model_loaded"]
    assert health["self_test_passed"]
    status, _, body = call(conn, "POST", "/api/v1/predict", {"inputs": [EXAMPLE_HOUSE]})
    assert status == 200
    assert body["predictions"][0] > 0
    conn.close()


def test_the_model_is_imported_from_the_installed_wheel(
    served_from_wheel: RunningServer, venv_dir: Path
) -> None:
    log = served_from_wheel.log_text()

    match = re.search(r"model package regression_model \S+ imported from (\S+)", log)
    assert match, log[-3000:]
    imported_from = Path(match.group(1)).resolve()
    site_packages = venv_dir.resolve() / "lib"
    assert imported_from.is_relative_to(site_packages)
    assert "site-packages" in imported_from.parts
    assert not imported_from.is_relative_to(REPO_ROOT / "regression_model")


def test_stopping_serve_stops_the_server_and_the_index_it_started(
    served_from_wheel: RunningServer, index_dir: Path, index_port: int
) -> None:
    # Given tox -e serve running, with the index it started (this test runs last)
    index_pid = int((index_dir / PID_FILE).read_text())
    assert index_process_on(index_port) is not None
    # When it is stopped as tox stops it on Ctrl-C (SIGTERM)
    served_from_wheel.stop()
    # Then it exits cleanly, saying so, and neither the server nor the index runs
    assert served_from_wheel.process.returncode == 0, served_from_wheel.log_text()[-3000:]
    assert "stopped the package index" in served_from_wheel.log_text()
    assert index_process_on(index_port) is None
    with pytest.raises(ProcessLookupError):
        os.kill(index_pid, 0)
    with pytest.raises(ConnectionRefusedError):
        served_from_wheel.connect(timeout=2).request("GET", "/api/v1/health")
