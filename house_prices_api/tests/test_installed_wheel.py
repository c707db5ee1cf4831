"""The whole `tox -e serve` path: publish, install in a fresh venv, serve from the wheel.

Slow (it creates a virtual environment and installs the service's
requirements into it), but it is the only test that proves the wheel on the
index is complete and that the server does not lean on the checkout.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import REPO_ROOT, RunningServer, call, free_port, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE
from scripts.package_index import stop_local_index

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def venv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "venv"


@pytest.fixture(scope="module")
def served_from_wheel(venv_dir: Path) -> Iterator[RunningServer]:
    """``python -m scripts.serve`` exactly as ``tox -e serve`` runs it: no PYTHONPATH."""
    index_dir = venv_dir.parent / "index"
    command = [
        sys.executable, "-m", "scripts.serve",
        "--venv", str(venv_dir),
        "--index-dir", str(index_dir),
        "--index-port", str(free_port()),
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
