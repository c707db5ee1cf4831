"""The built wheel carries everything needed to predict, and works on its own.

Builds the wheel from this checkout, installs it into a fresh virtual
environment (dependencies from the package index, pinned by the runtime
requirements) and predicts from a directory outside the repository, so only
the installed copy can be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from regression_model.config.core import TRAINED_MODEL_DIR, package_version
from regression_model.predict import make_prediction
from scripts.package_index import build_wheel
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
from regression_model.predict import make_prediction
result = make_prediction(input_data=json.loads(sys.argv[1]))
print(json.dumps({"result": result, "version": regression_model.__version__,
                  "module": regression_model.__file__}))
"""


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


@pytest.fixture(scope="module")
def installed_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh virtual environment with only the wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(venv)], venv)
    python = venv / "bin" / "python"
    requirements = REPO_ROOT / "requirements" / "runtime.txt"
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
    }
    assert expected <= names
    # And every artifact file trained here, and nothing from other versions
    trained = {
        f"regression_model/trained_models/{path.name}"
        for path in TRAINED_MODEL_DIR.iterdir()
        if path.suffix in {".pkl", ".json", ".onnx"}
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
