"""POST /api/v1/predict's response: the response model's bytes; tiny batches inline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

import pytest
from app.api import predict as predict_module
from app.api.predict import INLINE_ROWS, scores_inline
from app.schemas import PredictionResponse
from fastapi.testclient import TestClient

from regression_model import load_model, make_prediction

PREDICT = "/api/v1/predict"


def test_the_body_is_what_the_response_model_would_serialise(
    client: TestClient, example_row: dict[str, Any]
) -> None:
    # Given a batch with a priced row, an imputed row and two bad rows
    rows: list[Any] = [
        example_row,
        {**example_row, "TotalBsmtSF": None, "BsmtExposure": "NA"},
        {**example_row, "Neighborhood": "Atlantis", "OverallQual": 11},
        "not a row",
    ]
    # When it is priced over HTTP
    response = client.post(PREDICT, json={"inputs": rows})
    # Then the bytes are exactly those FastAPI's response_model path gives
    result = make_prediction(input_data=rows, model=load_model("onnx"))
    expected = (
        PredictionResponse.model_validate(result)
        .model_dump_json(exclude_unset=True)
        .encode()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == expected


def test_no_row_priced_is_422_with_the_same_shape(
    client: TestClient, example_row: dict[str, Any]
) -> None:
    response = client.post(PREDICT, json={"inputs": [{**example_row, "GrLivArea": 0}]})

    assert response.status_code == 422
    body = PredictionResponse.model_validate_json(response.content)
    assert body.predictions == [None]
    assert [error.field for error in body.errors] == ["GrLivArea"]


def test_the_openapi_document_still_describes_the_response(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ok = spec["paths"][PREDICT]["post"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PredictionResponse"}


@pytest.mark.parametrize(
    ("rows", "backend", "inline"),
    [
        (1, "onnx", True),
        (INLINE_ROWS, "onnx", True),
        (INLINE_ROWS + 1, "onnx", False),
        (1, "pipeline", False),
    ],
)
def test_only_tiny_onnx_batches_are_scored_on_the_event_loop(
    rows: int, backend: Literal["onnx", "pipeline"], inline: bool
) -> None:
    assert scores_inline(backend, rows) is inline


@pytest.mark.parametrize(("size", "off_loop"), [(1, False), (INLINE_ROWS + 1, True)])
def test_larger_batches_are_priced_in_the_thread_pool(
    client: TestClient,
    example_row: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    off_loop: bool,
) -> None:
    # Given make_prediction instrumented to note the thread it runs in
    loop_thread: list[int] = []
    seen: list[int] = []
    original: Callable[..., Any] = predict_module.make_prediction

    def recording(**kwargs: Any) -> Any:
        seen.append(threading.get_ident())
        return original(**kwargs)

    async def note_loop_thread() -> None:
        loop_thread.append(threading.get_ident())

    monkeypatch.setattr(predict_module, "make_prediction", recording)
    client.portal.call(note_loop_thread)  # type: ignore[union-attr]
    # When a batch of that size is priced
    response = client.post(PREDICT, json={"inputs": [example_row] * size})
    # Then it ran on the event loop's thread only if it was tiny
    assert response.status_code == 200
    assert (seen != loop_thread) is off_loop


def test_priced_rows_get_an_interval_and_bad_rows_none(
    client: TestClient, example_row: dict[str, Any]
) -> None:
    # Given a priced row and a bad one
    rows = [example_row, {**example_row, "GrLivArea": 0}]
    # When they are priced over HTTP
    body = client.post(PREDICT, json={"inputs": rows}).json()
    # Then the priced row's interval holds its price, the bad row has none
    low, high = body["intervals"][0]
    assert low < body["predictions"][0] < high
    assert body["intervals"][1] is None
    assert body["interval_coverage"] == pytest.approx(0.9)


def test_the_openapi_document_describes_the_optional_interval_fields(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    response = schema["PredictionResponse"]
    assert {"intervals", "interval_coverage"} <= response["properties"].keys()
    assert not {"intervals", "interval_coverage"} & set(response["required"])
    assert response["properties"]["intervals"]["examples"]
