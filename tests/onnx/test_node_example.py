"""The portable check: Node, on onnxruntime-web's WASM backend, prices as Python does."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from regression_model.config.core import AppConfig
from regression_model.processing.artifacts import ArtifactPaths
from regression_model.processing.validation import rows_from_input, validate_rows
from regression_model.scoring import OnnxScorer
from tests.support import REPO_ROOT

EXAMPLE_DIR = REPO_ROOT / "examples" / "node"

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="Node.js and npm are needed for the portable check",
    ),
]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, (
        f"{' '.join(command)} failed ({completed.returncode}):\n"
        f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    )
    return completed


@pytest.fixture(scope="module")
def node_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with its locked dependencies installed."""
    directory = tmp_path_factory.mktemp("node") / "example"
    shutil.copytree(EXAMPLE_DIR, directory, ignore=shutil.ignore_patterns("node_modules"))
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], directory)
    return directory


def test_lockfile_pins_the_exact_onnxruntime_web_version() -> None:
    manifest = json.loads((EXAMPLE_DIR / "package.json").read_text())
    lock = json.loads((EXAMPLE_DIR / "package-lock.json").read_text())
    pinned = manifest["dependencies"]["onnxruntime-web"]
    assert pinned[0].isdigit(), f"onnxruntime-web must be pinned exactly, got {pinned}"
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned


def test_node_prices_equal_python_onnx_prices(
    node_example: Path,
    tmp_path: Path,
    packaged_paths: ArtifactPaths,
    holdout_frame: pd.DataFrame,
    config: AppConfig,
) -> None:
    # Given the validated held-out records, written as JSON
    frame = holdout_frame.drop(columns=[config.model.target])
    validated = validate_rows(
        rows_from_input(frame), config.model.features, config.model.required_features
    )
    records: list[dict[str, Any]] = [r for r in validated.records if r is not None]
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(records))
    # When Node prices them with the packaged graph
    completed = run(
        ["node", "score.mjs", str(packaged_paths.onnx), str(rows_file)], node_example
    )
    node_prices = np.array(json.loads(completed.stdout)["prices"])
    # Then its prices equal the Python ONNX scorer's to 1e-9 relative
    python_prices = np.exp(OnnxScorer(packaged_paths.onnx).predict_log_price(records))
    assert node_prices.shape == python_prices.shape == (len(records),)
    np.testing.assert_allclose(node_prices, python_prices, rtol=1e-9, atol=0)
