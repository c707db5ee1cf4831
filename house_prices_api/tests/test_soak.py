"""A 30-second soak of the real service: no 5xx, no dropped connection, flat memory.

``benchmarks/soak.py`` starts the service itself (bin/start -> uvicorn, one
worker, the ONNX scorer), drives it with 32 keep-alive connections sending a
mix of 1-row and 100-row requests, valid and invalid, and reports in JSON.
The README records a 10-minute run of the same script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import REPO_ROOT

SOAK_SCRIPT = REPO_ROOT / "benchmarks" / "soak.py"


@pytest.mark.process
def test_a_30_second_soak_has_no_errors_and_flat_memory(tmp_path: Path) -> None:
    # When the soak runs for 30 seconds (10 of them warm-up)
    report = tmp_path / "soak.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(SOAK_SCRIPT), "--seconds", "30", "--warmup", "10"]
    run = subprocess.run(
        [*command, "--json", str(report)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # Then it passes, and its figures say why
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(report.read_text())
    assert result["failures"] == []
    assert result["server_errors"] == 0
    assert result["dropped_connections"] == 0
    assert result["wrong_answers"] == 0
    assert set(result["status_counts"]) == {"200", "422"}
    assert result["requests"] > 1000
    assert result["worker_pids"]["start"] == result["worker_pids"]["end"]
    growth = result["rss_growth_pct"]
    assert growth
    assert all(pct < 10 for pct in growth.values()), growth
