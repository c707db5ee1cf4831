"""The built wheel carries everything needed to predict, and works on its own.

Builds the wheel from this checkout, installs it into a fresh virtual
environment on each supported Python this machine has (3.11, 3.12, 3.13;
one that is not found skips, saying where it was looked for), with the
serving pins only (what scoring through the graph needs: no pandas,
scikit-learn or LightGBM), and predicts from a directory outside the
repository, so only the installed copy can be imported. Its prices must
equal the checkout's within 1e-9 relative: same prices on any machine and
Python is the promise (same bytes only on the same machine class).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from differential.capture import fixed_inputs
from regression_model import EXAMPLE_HOUSE, make_prediction
from regression_model.config.core import TRAINED_MODEL_DIR, package_version
from regression_model.processing.artifacts import ARTIFACT_SUFFIXES
from scripts.package_index import build_wheel
from scripts.pythons import SUPPORTED_PYTHONS, find_python, where_looked
from tests.support import REPO_ROOT, run_python

pytestmark = pytest.mark.process

# Rows as a Kaggle-speaking client sends them: digit-first names, an Id, a gap.
CLIENT_ROWS: list[dict[str, Any]] = [
    {"Id": 10, "MSSubClass": 60, "Neighborhood": "Gilbert", "OverallQual": 7,
     "GrLivArea": 1804, "1stFlrSF": 1028, "2ndFlrSF": 776, "YrSold": 2010},
    {"Id": 11, "MSSubClass": "20", "Neighborhood": "names", "OverallQual": 5,
     "GrLivArea": 1040, "1stFlrSF": 1040, "2ndFlrSF": 0, "FireplaceQu": "NA"},
    {"Id": 12, "Neighborhood": "OldTown", "OverallQual": 6, "GrLivArea": 0},
]  # fmt: skip

PREDICT_SCRIPT = """
import json, sys
import regression_model
from regression_model import make_prediction
result = make_prediction(input_data=json.loads(sys.argv[1]))
print(json.dumps({"result": result, "version": regression_model.__version__,
                  "module": regression_model.__file__}))
"""
PREDICT_FILE_SCRIPT = """
import json, sys
from regression_model import make_prediction
with open(sys.argv[1]) as rows:
    print(json.dumps(make_prediction(input_data=json.load(rows))))
"""
TEST_CSV = REPO_ROOT / "regression_model" / "datasets" / "test.csv"
EDGE_CASES = REPO_ROOT / "differential" / "edge_cases.json"


def run(command: list[str], cwd: Path) -> None:
    """Run a build step; on failure show its output, which names the cause.

    ``PYTHONPATH`` is dropped: under tox it names the checkout, where a build
    leaves ``*.egg-info``, and pip would take that for an installed
    distribution and skip installing the wheel into the fresh environment.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout the way it is published (``build_wheel``)."""
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module", params=SUPPORTED_PYTHONS, ids=lambda v: f"py{v}")
def installed_python(
    request: pytest.FixtureRequest, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh virtual environment on one supported Python, with the wheel and the
    serving pins: its interpreter."""
    version: str = request.param
    base = find_python(version)
    if base is None:
        pytest.skip(f"Python {version} not found (looked for {where_looked(version)})")
    venv = tmp_path_factory.mktemp(f"venv-py{version}")
    run([str(base), "-m", "venv", str(venv)], venv)
    python = venv / "bin" / "python"
    requirements = REPO_ROOT / "requirements" / "serving.txt"
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            str(wheel),
            "-r",
            str(requirements),
        ],
        venv,
    )
    return python


def test_wheel_is_named_for_the_distribution_and_version(wheel: Path) -> None:
    assert wheel.name == f"ames_house_price_model-{package_version()}-py3-none-any.whl"


def test_wheel_carries_version_config_data_and_the_trained_model(wheel: Path) -> None:
    # Given the built wheel's file list
    names = set(zipfile.ZipFile(wheel).namelist())
    stem = f"regression_model/trained_models/regression_model_v{package_version()}"
    # Then everything predicting and retraining need is inside
    expected = {
        "regression_model/VERSION",
        "regression_model/config.yml",
        "regression_model/datasets/train.csv",
        "regression_model/datasets/test.csv",
        "regression_model/datasets/PROVENANCE.json",
        f"{stem}.pkl",
        f"{stem}.json",
        f"{stem}.onnx",
        f"{stem}.npz",
    }
    assert expected <= names
    # And every artifact file trained here, and nothing from other versions
    trained = {
        f"regression_model/trained_models/{path.name}"
        for path in TRAINED_MODEL_DIR.iterdir()
        if path.suffix in ARTIFACT_SUFFIXES
    }
    shipped = {name for name in names if name.startswith(stem.rsplit("/", 1)[0])}
    assert trained | {"regression_model/trained_models/__init__.py"} == shipped


def test_wheel_files_are_byte_identical_to_the_checkout(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for name in ("regression_model/VERSION", "regression_model/datasets/train.csv"):
            assert archive.read(name) == (REPO_ROOT / name).read_bytes()


def test_installed_wheel_predicts_from_outside_the_repository(
    installed_python: Path, tmp_path: Path
) -> None:
    # Given a directory outside the checkout and no PYTHONPATH
    elsewhere = tmp_path / "client"
    elsewhere.mkdir()
    # When the installed package prices Kaggle-named rows
    completed = run_python(
        PREDICT_SCRIPT,
        json.dumps(CLIENT_ROWS),
        cwd=elsewhere,
        python=str(installed_python),
        import_repo=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    # Then the installed copy answered, not the checkout
    module = Path(report["module"])
    assert installed_python.parent.parent in module.parents
    assert module.parent != REPO_ROOT / "regression_model"
    # And it gives one slot per row: two prices and a named error, as here
    result = report["result"]
    assert report["version"] == result["version"] == package_version()
    assert len(result["predictions"]) == len(CLIENT_ROWS)
    assert result["predictions"][2] is None
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(2, "GrLivArea")]
    local = make_prediction(input_data=CLIENT_ROWS)
    assert result["predictions"][:2] == pytest.approx(local["predictions"][:2], rel=1e-9)
    assert all(price > 0 for price in result["predictions"][:2])


def test_installed_wheel_prices_the_held_out_rows_as_the_checkout(
    installed_python: Path, tmp_path: Path
) -> None:
    # Given the held-out rows, the edge cases and the example house, as JSON
    _, rows, _ = fixed_inputs(TEST_CSV, EDGE_CASES, "SalePrice")
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in [*rows, EXAMPLE_HOUSE]
    ]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    # When the installed wheel prices them, and the checkout prices them here
    completed = run_python(
        PREDICT_FILE_SCRIPT,
        str(tmp_path / "rows.json"),
        cwd=tmp_path,
        python=str(installed_python),
        import_repo=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    installed = json.loads(completed.stdout)
    here = make_prediction(input_data=rows)
    # Then every row gets the same answer: the same error, or a price within 1e-9
    assert len(installed["predictions"]) == len(rows)
    assert installed["errors"] == here["errors"]
    priced = [i for i, price in enumerate(here["predictions"]) if price is not None]
    assert [i for i, p in enumerate(installed["predictions"]) if p is not None] == priced
    assert len(priced) > 586  # every held-out row and the example house, at least
    assert [installed["predictions"][i] for i in priced] == pytest.approx(
        [here["predictions"][i] for i in priced], rel=1e-9
    )
    assert installed["predictions"][-1] > 0  # the example house
