"""The Procfile, run by honcho as Heroku would run it, serves for real."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from servers import REPO_ROOT, call, free_port, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE

pytestmark = pytest.mark.process


def test_honcho_runs_the_procfile_web_process(tmp_path: Path) -> None:
    # Given the Procfile and a PORT, as Heroku provides them
    port = free_port()
    honcho = str(Path(sys.executable).parent / "honcho")
    # When honcho starts it
    server = start_server(
        [honcho, "start", "--procfile", str(REPO_ROOT / "Procfile"), "web"],
        tmp_path / "honcho.log",
        port=port,
    )
    try:
        # Then the web process listens on that port and predicts
        conn = server.connect()
        status, _, health = call(conn, "GET", "/api/v1/health")
        assert status == 200
        assert health["self_test_passed"]
        status, _, body = call(
            conn, "POST", "/api/v1/predict", {"inputs": [EXAMPLE_HOUSE]}
        )
        assert status == 200
        assert body["predictions"][0] > 0
        conn.close()
    finally:
        server.stop()
    assert f"127.0.0.1:{port}" in server.log_text()
