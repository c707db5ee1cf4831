"""GET /, /docs, /openapi.json and /api/v1/health, in process."""

from __future__ import annotations

from collections.abc import Callable

import app.model
import pytest
from app import __version__
from fastapi.testclient import TestClient

import regression_model
from regression_model.predict import model_version
from regression_model.processing.artifacts import ArtifactIntegrityError
from regression_model.processing.schema import EXAMPLE_HOUSE, HouseFeatures, field_labels


def test_health_reports_versions_and_readiness(client: TestClient) -> None:
    response = client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "house-prices-api",
        "api_version": __version__,
        "model_version": model_version(),
        "model_package_version": regression_model.__version__,
        "scorer_backend": "onnx",
        "model_loaded": True,
        "self_test_passed": True,
    }


def test_a_model_that_fails_to_load_is_reported_not_fatal(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an artifact that fails its integrity check
    def tampered() -> None:
        raise ArtifactIntegrityError("artifact has the wrong sha256")

    monkeypatch.setattr(app.model, "default_artifact", tampered)
    # When the app starts
    client = make_client()
    # Then it is up, says it cannot predict, and refuses predictions with 503
    health = client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["model_loaded"] is False
    assert health.json()["status"] == "unavailable"
    prediction = client.post("/api/v1/predict", json={"inputs": [EXAMPLE_HOUSE]})
    assert prediction.status_code == 503
    assert "not loaded" in prediction.json()["detail"]


def test_a_model_that_fails_its_self_test_is_not_ready(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.model, "self_test", lambda scorer, version: "broken")

    client = make_client()

    body = client.get("/api/v1/health").json()
    assert (body["model_loaded"], body["self_test_passed"]) == (True, False)


def test_home_page_links_to_the_docs(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in response.text
    assert model_version() in response.text


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
