"""The default serving path loads no pickle and none of the training stack."""

from __future__ import annotations

import pytest
from servers import run_probe

pytestmark = pytest.mark.process

TRAINING_STACK = ("pandas", "sklearn", "feature_engine", "joblib", "scipy")

PROBE = """
import json, sys
from fastapi.testclient import TestClient
from app.main import create_app
from regression_model.processing.schema import EXAMPLE_HOUSE

with TestClient(create_app()) as client:
    health = client.get("/api/v1/health").json()
    body = client.post("/api/v1/predict", json={"inputs": [EXAMPLE_HOUSE]}).json()
print(json.dumps({
    "health": health,
    "prediction": body["predictions"][0],
    "loaded": sorted(m for m in %r if m in sys.modules),
}))
"""


def test_default_backend_serves_without_pandas_or_sklearn() -> None:
    # Given a fresh interpreter with the service's default settings
    # When it starts the app, checks health and prices a house
    outcome = run_probe(PROBE % (TRAINING_STACK,), unset=["SCORER_BACKEND"])
    # Then it served from the ONNX graph, and never imported the training stack
    assert outcome["health"]["scorer_backend"] == "onnx"
    assert outcome["health"]["self_test_passed"] is True
    assert outcome["prediction"] > 0
    assert outcome["loaded"] == []


WRITER_PROBE = """
import json, sys, tempfile
from pathlib import Path
from app.config import Settings
from app.log_sidecar import build_sidecar
from app.metrics import ServiceMetrics
from app.training_snapshot import load_training_snapshot

folder = Path(tempfile.mkdtemp())
sidecar = build_sidecar(
    Settings(prediction_log="all", prediction_log_dir=str(folder)),
    str(folder / "writer.sock"),
    ServiceMetrics(),
    load_training_snapshot(),
)
print(json.dumps(sorted(m for m in %r if m in sys.modules)))
"""


def test_the_log_writer_loads_no_model_code() -> None:
    # Given a fresh interpreter set up as the writer process sets itself up
    # (settings, the log's database, the per-row metrics and their snapshot)
    heavy = ("numpy", "onnxruntime", "regression_model.model", *TRAINING_STACK)
    # When it builds the writer
    loaded = run_probe(WRITER_PROBE % (heavy,))
    # Then it imported neither the model nor numpy: it only counts and inserts
    assert loaded == []
