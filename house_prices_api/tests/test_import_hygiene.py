"""The default serving path loads no pickle and none of the training stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from servers import API_DIR, REPO_ROOT

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
    env = {k: v for k, v in os.environ.items() if k != "SCORER_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(API_DIR)])
    # When it starts the app, checks health and prices a house
    completed = subprocess.run(
        [sys.executable, "-c", PROBE % (TRAINING_STACK,)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    # Then it served from the ONNX graph, and never imported the training stack
    assert outcome["health"]["scorer_backend"] == "onnx"
    assert outcome["health"]["self_test_passed"] is True
    assert outcome["prediction"] > 0
    assert outcome["loaded"] == []
