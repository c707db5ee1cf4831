"""GET /, /docs, /openapi.json and /api/v1/health, in process."""

from __future__ import annotations

from collections.abc import Callable

import app.model
import pytest
from app import __version__
from app.config import Settings
from app.main import create_app
from app.model import ModelLoadError
from fastapi.testclient import TestClient

import regression_model
from regression_model import (
    EXAMPLE_HOUSE,
    ArtifactIntegrityError,
    HouseFeatures,
    LoadedModel,
    load_model,
)
from regression_model.processing.schema import field_labels


def test_health_reports_versions_and_readiness(client: TestClient) -> None:
    response = client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "house-prices-api",
        "api_version": __version__,
        "model_version": load_model().version,
        "model_package_version": regression_model.__version__,
        "scorer_backend": "onnx",
        "model_loaded": True,
        "self_test_passed": True,
    }


def test_a_model_that_fails_verification_stops_start_up(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an artifact that fails its integrity check
    def tampered(backend: str) -> LoadedModel:
        raise ArtifactIntegrityError("regression_model_v0.pkl has the wrong sha256")

    monkeypatch.setattr(app.model, "load_model", tampered)
    # When the app starts, then start-up fails, naming the file and the check
    with pytest.raises(ModelLoadError, match=r"regression_model_v0\.pkl.*sha256"):
        make_client()


def test_a_model_that_fails_its_self_test_stops_start_up(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.model, "self_test", lambda model: "broken")

    with pytest.raises(ModelLoadError, match="broken"):
        make_client()


def test_health_is_unavailable_until_the_model_is_loaded() -> None:
    # Given an app whose lifespan has not run (no model loaded yet)
    client = TestClient(create_app(Settings()))
    # When health and a prediction are asked for
    health = client.get("/api/v1/health")
    prediction = client.post("/api/v1/predict", json={"inputs": [EXAMPLE_HOUSE]})
    # Then both say the model is not ready
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert (health.json()["model_loaded"], health.json()["self_test_passed"]) == (
        False,
        False,
    )
    assert prediction.status_code == 503
    assert "not loaded" in prediction.json()["detail"]


def test_home_page_links_to_the_docs(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in response.text
    assert load_model().version in response.text


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_openapi_documents_every_row_field_with_its_labels(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    request_schema = schemas["PredictionRequest"]["properties"]["inputs"]
    row_schema = schemas["HouseFeatures"]["properties"]

    assert request_schema["items"] == {"$ref": "#/components/schemas/HouseFeatures"}
    documented = set(row_schema)
    expected = {
        info.serialization_alias or name
        for name, info in HouseFeatures.model_fields.items()
    }
    assert documented == expected
    for field, labels in field_labels().items():
        enum = next(
            option["enum"] for option in row_schema[field]["anyOf"] if "enum" in option
        )
        assert enum == list(labels)


def test_openapi_example_request_is_the_example_house(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]

    examples = body["application/json"]["examples"]
    assert examples["one house"]["value"] == {"inputs": [EXAMPLE_HOUSE]}
    responses = spec["paths"]["/api/v1/predict"]["post"]["responses"]
    assert {"200", "413", "415", "422", "503"} <= set(responses)
