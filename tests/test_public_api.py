"""The package's public API: what ``regression_model`` exports, loaded lazily."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import regression_model
from regression_model import ArtifactIntegrityError, ModelMetadata, load_model
from tests.support import run_python

CONTRACT = {
    "__version__",
    "make_prediction",
    "load_model",
    "LoadedModel",
    "ModelMetadata",
    "HouseFeatures",
    "EXAMPLE_HOUSE",
    "PredictionResult",
    "RowError",
    "ImputedFields",
    "ROW_LEVEL",
    "Scorer",
    "ScorerBackend",
    "ArtifactIntegrityError",
}


def test_the_package_exports_exactly_the_agreed_names() -> None:
    # Given the names agreed with the service, Then __all__ lists them and each resolves
    assert set(regression_model.__all__) == CONTRACT
    for name in CONTRACT:
        assert getattr(regression_model, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'load_scorer'"):
        regression_model.load_scorer  # noqa: B018


@pytest.mark.process
def test_importing_the_package_loads_nothing_else(tmp_path: Path) -> None:
    # Given a fresh interpreter, When the package is imported
    code = (
        "import json, sys\n"
        "import regression_model\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(\n"
        "    ('regression_model.', 'pydantic', 'numpy', 'onnxruntime')))))\n"
    )
    completed = run_python(code, cwd=tmp_path)
    # Then none of its modules and none of its libraries were imported
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_a_loaded_model_carries_its_verified_metadata() -> None:
    # When the default model is loaded
    model = load_model()
    # Then it is the graph, with the version and metadata it was verified against
    assert model.backend == "onnx"
    assert isinstance(model.metadata, ModelMetadata)
    assert model.version == model.metadata.version == regression_model.__version__
    assert model.metadata.onnx_sha256 is not None
    assert issubclass(ArtifactIntegrityError, RuntimeError)
