"""The service's environment holds what serving needs, not what training needs.

The service scores through the ONNX graph; pandas, scikit-learn, feature-engine,
SciPy and LightGBM are for training and the reference scorer only, so they stay
out of the pins the service (Heroku, the Docker image) installs.
"""

from __future__ import annotations

import re
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = API_DIR.parent
TRAINING_ONLY = {
    "pandas",
    "scikit-learn",
    "feature-engine",
    "scipy",
    "lightgbm",
    "joblib",
}


def pinned_names(requirements: Path) -> set[str]:
    """Every distribution pinned in ``requirements``, following ``-r`` includes."""
    names: set[str] = set()
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= pinned_names((requirements.parent / line[3:].strip()).resolve())
        elif "==" in line:
            names.add(re.sub(r"[-_.]+", "-", line.split("==", 1)[0]).lower())
    return names


def test_the_service_pins_no_training_library() -> None:
    # Given the pins the service's environment is built from
    service = pinned_names(API_DIR / "requirements.txt")
    # Then serving's share of the model package is there and training's is not
    assert {"onnxruntime", "numpy", "pydantic", "strictyaml"} <= service
    assert not service & TRAINING_ONLY


def test_the_root_requirements_heroku_reads_are_the_services() -> None:
    # Given the file Heroku's Python buildpack installs
    heroku = pinned_names(REPO_ROOT / "requirements.txt")
    # Then it is exactly the service's pins
    assert heroku == pinned_names(API_DIR / "requirements.txt")


def test_the_docker_image_copies_the_serving_pins_only() -> None:
    # Given the Dockerfile
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    # Then it copies the serving pins, never the training ones
    assert "requirements/serving.txt" in dockerfile
    assert "requirements/runtime.txt" not in dockerfile
