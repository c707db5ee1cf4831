"""POST /api/v1/predict with "explain": explanations on request, nothing otherwise."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

PREDICT = "/api/v1/predict"


def test_explain_returns_an_additive_explanation_per_priced_row(
    client: TestClient, example_row: dict[str, Any]
) -> None:
    # Given a priced row and a row that cannot be priced
    rows = [example_row, {**example_row, "GrLivArea": 0}]
    # When they are priced with "explain": true
    response = client.post(PREDICT, json={"inputs": rows, "explain": True})
    # Then only the priced row is explained, and its parts add up to its log-price
    assert response.status_code == 200
    body = response.json()
    (explanation,) = body["explanations"]
    assert explanation["row"] == 0
    total = explanation["base_log_price"] + sum(
        c["log_contribution"] for c in explanation["contributions"]
    )
    assert total == pytest.approx(math.log(body["predictions"][0]), rel=1e-9)
    assert {"OverallQual", "Neighborhood", "TotalSF"} <= {
        c["feature"] for c in explanation["contributions"]
    }


def test_without_explain_the_response_is_unchanged(
    client: TestClient, example_row: dict[str, Any]
) -> None:
    # Given one batch, sent without "explain" and with "explain": false
    rows = [example_row, {**example_row, "OverallQual": 3}]
    plain = client.post(PREDICT, json={"inputs": rows})
    off = client.post(PREDICT, json={"inputs": rows, "explain": False})
    # Then both bodies are the same bytes, with no explanations
    assert plain.status_code == off.status_code == 200
    assert plain.content == off.content
    assert "explanations" not in plain.json()


@pytest.mark.parametrize("value", ["true", 1, None, [True]])
def test_a_non_boolean_explain_is_a_422_envelope_error(
    client: TestClient, example_row: dict[str, Any], value: Any
) -> None:
    # When "explain" is not a JSON boolean
    response = client.post(PREDICT, json={"inputs": [example_row], "explain": value})
    # Then the envelope is refused, naming the field
    assert response.status_code == 422
    issues = response.json()["detail"]
    assert [issue["loc"] for issue in issues] == [["body", "explain"]]
    assert issues[0]["type"] == "bool_type"


def test_the_openapi_document_describes_explain(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    request, response = schemas["PredictionRequest"], schemas["PredictionResponse"]
    assert request["properties"]["explain"]["default"] is False
    assert "explain" not in request.get("required", [])
    assert "explanations" not in response["required"]
    assert response["properties"]["explanations"]["examples"]
