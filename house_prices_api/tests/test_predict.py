"""POST /api/v1/predict in process: per-row answers, envelope errors, limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from regression_model import load_model

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}


def test_the_example_house_gets_a_price(client: TestClient, example_row: dict) -> None:
    response = client.post(PREDICT, json={"inputs": [example_row]})

    assert response.status_code == 200
    body = response.json()
    assert body["version"] == load_model().version
    assert body["errors"] == []
    assert body["imputed"] == []
    [price] = body["predictions"]
    assert 100_000 < price < 400_000  # sold for $189,000


def test_a_mixed_batch_answers_every_row_in_order(
    client: TestClient, example_row: dict
) -> None:
    # Given good rows, a row with an unknown label, a non-object row and a gap
    rows: list[Any] = [
        example_row,
        {**example_row, "Neighborhood": "Atlantis"},
        42,
        {**example_row, "TotalBsmtSF": None},
    ]
    # When they are sent as one batch
    response = client.post(PREDICT, json={"inputs": rows})
    # Then every row has its slot, bad ones empty with named errors
    assert response.status_code == 200
    body = response.json()
    predictions = body["predictions"]
    assert len(predictions) == 4
    assert predictions[1] is None
    assert predictions[2] is None
    assert predictions[0] is not None
    assert predictions[3] is not None
    assert {(e["row"], e["field"]) for e in body["errors"]} == {
        (1, "Neighborhood"),
        (2, "__row__"),
    }
    assert body["imputed"] == [{"row": 3, "fields": ["TotalBsmtSF"]}]


def test_course_names_and_extra_columns_are_accepted(
    client: TestClient, example_row: dict
) -> None:
    course_row = {
        **{k: v for k, v in example_row.items() if k not in {"1stFlrSF", "2ndFlrSF"}},
        "FirstFlrSF": example_row["1stFlrSF"],
        "SecondFlrSF": example_row["2ndFlrSF"],
        "ThreeSsnPortch": 0,
        "Id": 10,
        "Street": "Pave",
    }

    body = client.post(PREDICT, json={"inputs": [example_row, course_row]}).json()

    assert body["errors"] == []
    assert body["predictions"][0] == pytest.approx(body["predictions"][1])


def test_a_batch_with_no_good_row_is_422_with_the_same_shape(client: TestClient) -> None:
    response = client.post(PREDICT, json={"inputs": [{"Neighborhood": "X"}, {}]})

    assert response.status_code == 422
    body = response.json()
    assert body["predictions"] == [None, None]
    assert body["version"] == load_model().version
    assert {e["row"] for e in body["errors"]} == {0, 1}


def test_missing_fields_are_imputed_and_listed(client: TestClient) -> None:
    required_only = {"GrLivArea": 1500, "OverallQual": 6, "Neighborhood": "NAmes"}

    body = client.post(PREDICT, json={"inputs": [required_only]}).json()

    assert body["predictions"][0] is not None
    assert len(body["imputed"][0]["fields"]) > 20


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ([{"GrLivArea": 1}], "model_attributes_type"),
        ("rows", "model_attributes_type"),
        (None, "model_attributes_type"),
        ({}, "missing"),
        ({"rows": []}, "missing"),
        ({"inputs": {"GrLivArea": 1}}, "list_type"),
        ({"inputs": "x"}, "list_type"),
        ({"inputs": None}, "list_type"),
        ({"inputs": []}, "too_short"),
    ],
)
def test_a_malformed_envelope_is_422_with_machine_readable_issues(
    client: TestClient, body: Any, error_type: str
) -> None:
    response = client.post(PREDICT, content=json.dumps(body), headers=JSON)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [issue["type"] for issue in detail] == [error_type]
    assert all(set(issue) == {"type", "loc", "msg"} for issue in detail)
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"inputs": [',
        b'{"inputs": [{"LotArea": NaN}]}',
        b'{"inputs": [{"LotArea": Infinity}]}',
        b'{"inputs": [{"LotArea": -Infinity}]}',
        b'{"inputs": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b'{"inputs": [{"LotArea": ' + b"9" * 5000 + b"}]}",
        b'{"inputs": [{"Neighborhood": "\xff\xfe"}]}',
        b"",
    ],
    ids=["truncated", "nan", "inf", "-inf", "deep", "digits", "not-utf8", "empty"],
)
def test_bodies_that_are_not_standard_json_are_422(
    client: TestClient, raw: bytes
) -> None:
    response = client.post(PREDICT, content=raw, headers=JSON)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] in {"json_invalid", "missing"}


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
def test_a_body_that_is_not_json_is_415(
    client: TestClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(PREDICT, content=b'{"inputs": [{}]}', headers=headers)

    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_json_subtypes_and_charset_parameters_are_accepted(
    client: TestClient, example_row: dict
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = client.post(
            PREDICT,
            content=f'{{"inputs": [{json.dumps(example_row)}]}}',
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 200, content_type


def test_more_rows_than_max_rows_is_413_naming_the_limit(
    make_client: Callable[..., TestClient], example_row: dict
) -> None:
    client = make_client(max_rows=3)

    response = client.post(PREDICT, json={"inputs": [example_row] * 4})

    assert response.status_code == 413
    assert "limit of 3 rows" in response.json()["detail"]
    assert client.post(PREDICT, json={"inputs": [example_row] * 3}).status_code == 200


def test_a_declared_body_over_max_body_bytes_is_413(
    make_client: Callable[..., TestClient], example_row: dict
) -> None:
    client = make_client(max_body_bytes=2000)

    response = client.post(PREDICT, json={"inputs": [example_row] * 5})

    assert response.status_code == 413
    assert "limit of 2000 bytes" in response.json()["detail"]
    assert client.post(PREDICT, json={"inputs": [example_row]}).status_code == 200


def test_a_chunked_body_over_max_body_bytes_is_413(
    make_client: Callable[..., TestClient], example_row: dict
) -> None:
    # Given a body sent in chunks, with no Content-Length to check up front
    client = make_client(max_body_bytes=2000)

    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": ['
        for _ in range(5):
            yield (json.dumps(example_row) + ",").encode()
        yield json.dumps(example_row).encode() + b"]}"

    # When it is streamed
    response = client.post(PREDICT, content=chunks(), headers=JSON)
    # Then the count of received bytes trips the limit
    assert response.status_code == 413
    assert "limit of 2000 bytes" in response.json()["detail"]


def test_the_onnx_backend_serves_the_same_prices(
    make_client: Callable[..., TestClient], client: TestClient, example_row: dict
) -> None:
    # Given the same batch sent to a pipeline-backed and an ONNX-backed app
    rows = [example_row, {**example_row, "TotalBsmtSF": None}, {"GrLivArea": 1}]
    onnx_client = make_client(scorer_backend="onnx")
    assert onnx_client.get("/api/v1/health").json()["scorer_backend"] == "onnx"
    # When both price it
    reference = client.post(PREDICT, json={"inputs": rows}).json()
    exported = onnx_client.post(PREDICT, json={"inputs": rows}).json()
    # Then they agree row by row, errors included
    assert exported["errors"] == reference["errors"]
    assert exported["predictions"][2] is None
    assert exported["predictions"][:2] == pytest.approx(
        reference["predictions"][:2], rel=1e-4
    )


def test_the_request_body_is_documented_as_a_required_prediction_request(
    client: TestClient,
) -> None:
    # Given the OpenAPI document of an endpoint that reads its body itself
    spec = client.get("/openapi.json").json()
    # When a client looks up what the body is
    body = spec["paths"][PREDICT]["post"]["requestBody"]
    # Then it is the PredictionRequest schema, required, with its examples
    assert body["required"] is True
    content = body["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/PredictionRequest"}
    assert set(content["examples"]) == {"one house", "mixed batch"}
    assert "PredictionRequest" in spec["components"]["schemas"]


class _RecordingTracer(trace.NoOpTracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.names.append(name)
        return super().start_span(name, *args, **kwargs)


class _RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _RecordingTracer(self.names)


@pytest.fixture(scope="module")
def global_tracer_provider() -> _RecordingProvider:
    """A configured global tracer provider (OpenTelemetry lets a process set one once)."""
    provider = _RecordingProvider()
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "a provider was already set"
    return provider


@pytest.mark.parametrize("enabled", [False, True])
def test_opentelemetry_spans_are_a_setting(
    make_client: Callable[..., TestClient],
    global_tracer_provider: _RecordingProvider,
    enabled: bool,
    example_row: dict,
) -> None:
    # Given a process with a tracer provider, and an app with OPENTELEMETRY set or not
    client = make_client(opentelemetry=enabled)
    global_tracer_provider.names.clear()
    # When a batch is priced
    response = client.post(PREDICT, json={"inputs": [example_row]})
    # Then FastAPI made spans for it exactly when the setting is on
    assert response.status_code == 200
    assert bool(global_tracer_provider.names) is enabled
