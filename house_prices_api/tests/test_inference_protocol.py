"""The Open Inference Protocol (/v2) on a real server, with a client no one here wrote.

``tritonclient[http]`` (NVIDIA's client for Triton, which speaks KServe V2)
calls ``bin/start`` with API keys on and a small ``MAX_ROWS``. The prices it
gets must equal, bit for bit, those ``POST /api/v1/predict`` gives for the
same held-out rows, and every malformed tensor must get a 400 whose message
names the input.
"""

from __future__ import annotations

import csv
import http.client
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from servers import (
    REPO_ROOT,
    START_SCRIPT,
    RunningServer,
    call,
    start_server,
    wait_until_logged,
)
from tritonclient.utils import InferenceServerException

from regression_model import HouseFeatures

pytestmark = pytest.mark.process

MODEL = "house-prices"
KEY = "oip-test-key"
MAX_ROWS = 300
HELD_OUT_CSV = REPO_ROOT / "regression_model" / "datasets" / "test.csv"
PROPERTIES = HouseFeatures.model_json_schema()["properties"]
LABELS = {
    name
    for name, schema in PROPERTIES.items()
    if any(option.get("type") == "string" for option in schema.get("anyOf", [schema]))
}


def held_out_rows(count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows of Kaggle's test.csv, typed: numbers, labels, None."""
    with HELD_OUT_CSV.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for record, _ in zip(reader, range(count), strict=False):
            rows.append(
                {
                    name: None
                    if record[name] in {"", "NA"}
                    else record[name]
                    if name in LABELS
                    else float(record[name])
                    for name in PROPERTIES
                }
            )
    return rows


def tensors(rows: list[dict[str, Any]], *, binary_labels: bool = True) -> list[Any]:
    """One ``InferInput`` per feature: FP64 with NaN for missing, BYTES with ''."""
    inputs = []
    for name in PROPERTIES:
        values = [row[name] for row in rows]
        if name in LABELS:
            tensor = triton.InferInput(name, [len(rows)], "BYTES")
            data = np.array(["" if v is None else v for v in values], dtype=np.object_)
            tensor.set_data_from_numpy(data, binary_data=binary_labels)
        else:
            tensor = triton.InferInput(name, [len(rows)], "FP64")
            data = np.array([math.nan if v is None else v for v in values], np.float64)
            tensor.set_data_from_numpy(data)
        inputs.append(tensor)
    return inputs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("oip") / "server.log"
    running = start_server(
        [str(START_SCRIPT)], log, env={"API_KEYS": KEY, "MAX_ROWS": str(MAX_ROWS)}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    oip = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield oip
    oip.close()


def predict_v1(server: RunningServer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    status, _, body = call(
        connection, "POST", "/api/v1/predict", {"inputs": rows}, {"X-API-Key": KEY}
    )
    connection.close()
    assert status == 200, body
    return dict(body)


def model_version(server: RunningServer) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    _, _, health = call(connection, "GET", "/api/v1/health")
    connection.close()
    return str(health["model_version"])


def test_health_and_metadata_calls_answer_the_client(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    # Given the running service and its model's version
    version = model_version(server)

    # When the client asks whether server and model are live and ready, and for metadata
    metadata = client.get_model_metadata(MODEL)
    versioned = client.get_model_metadata(MODEL, model_version=version)

    # Then all say yes, and the metadata lists one tensor per schema field
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, model_version=version)
    assert not client.is_model_ready("another-model")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert metadata == versioned
    assert metadata["name"] == MODEL
    assert metadata["versions"] == [version]
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(PROPERTIES)
    datatypes = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
    assert datatypes["GrLivArea"] == "FP64"
    assert datatypes["MSSubClass"] == "FP64"
    assert datatypes["Neighborhood"] == "BYTES"
    assert {tensor["shape"] for tensor in map(_shape, metadata["inputs"])} == {(-1,)}
    assert metadata["outputs"] == [{"name": "price", "datatype": "FP64", "shape": [-1]}]


def _shape(tensor: dict[str, Any]) -> dict[str, Any]:
    return {**tensor, "shape": tuple(tensor["shape"])}


@pytest.mark.parametrize("binary_labels", [True, False], ids=["binary", "json-labels"])
def test_infer_gives_the_prices_of_the_json_api_for_the_same_rows(
    server: RunningServer, client: triton.InferenceServerClient, binary_labels: bool
) -> None:
    # Given 200 held-out houses, one of them in a neighbourhood that does not exist
    rows = held_out_rows(200)
    rows[7] = {**rows[7], "Neighborhood": "Atlantis"}
    expected = predict_v1(server, rows)

    # When the OIP client sends them as tensors
    result = client.infer(
        MODEL, tensors(rows, binary_labels=binary_labels), headers={"X-API-Key": KEY}
    )

    # Then each price equals the JSON API's; the bad row is NaN, its reasons in parameters
    prices = result.as_numpy("price")
    assert prices is not None
    assert prices.dtype == np.float64
    assert prices.shape == (200,)
    for price, wanted in zip(prices.tolist(), expected["predictions"], strict=True):
        assert (wanted is None and math.isnan(price)) or price == wanted
    assert math.isnan(prices[7])
    response = result.get_response()
    assert response["model_version"] == expected["version"]
    parameters = response["parameters"]
    assert json.loads(parameters["errors"]) == expected["errors"]
    assert json.loads(parameters["imputed"]) == expected["imputed"]
    assert parameters["priced"] == 199
    assert {error["row"] for error in expected["errors"]} == {7}


def test_prices_come_back_as_json_when_the_output_asks_for_it(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    # Given three held-out houses
    rows = held_out_rows(3)

    # When the client asks for the price output as JSON, on the versioned route
    result = client.infer(
        MODEL,
        tensors(rows),
        model_version=model_version(server),
        outputs=[triton.InferRequestedOutput("price", binary_data=False)],
        headers={"X-API-Key": KEY},
    )

    # Then the JSON data holds the same prices
    assert "data" in result.get_output("price")
    assert result.as_numpy("price").tolist() == predict_v1(server, rows)["predictions"]


def _bad_tensor(kind: str) -> list[Any]:
    rows = held_out_rows(2)
    inputs = tensors(rows)
    if kind == "wrong datatype":
        wrong = triton.InferInput("GrLivArea", [2], "BYTES")
        wrong.set_data_from_numpy(np.array(["1500", "900"], dtype=np.object_))
        return [tensor for tensor in inputs if tensor.name() != "GrLivArea"] + [wrong]
    if kind == "mismatched lengths":
        short = triton.InferInput("GrLivArea", [1], "FP64")
        short.set_data_from_numpy(np.array([1500.0]))
        return [tensor for tensor in inputs if tensor.name() != "GrLivArea"] + [short]
    unknown = triton.InferInput("GrLivAreaSqM", [2], "FP64")
    unknown.set_data_from_numpy(np.array([140.0, 80.0]))
    return [*inputs, unknown]


@pytest.mark.parametrize(
    ("kind", "named", "said"),
    [
        ("wrong datatype", "GrLivArea", "the model takes FP64"),
        ("mismatched lengths", "GrLivArea", "different lengths"),
        ("unknown input", "GrLivAreaSqM", "unknown input"),
    ],
)
def test_a_bad_tensor_gets_a_400_naming_the_input(
    client: triton.InferenceServerClient, kind: str, named: str, said: str
) -> None:
    # Given a request with one bad tensor
    inputs = _bad_tensor(kind)

    # When the client sends it
    with pytest.raises(InferenceServerException) as raised:
        client.infer(MODEL, inputs, headers={"X-API-Key": KEY})

    # Then the server refuses it whole with 400, naming the input and the problem
    assert raised.value.status() == "400"
    assert named in raised.value.message()
    assert said in raised.value.message()


def test_keys_limits_and_request_ids_are_those_of_api_v1(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    # Given a valid request for one house more than MAX_ROWS, and one for a single house
    too_many = tensors(held_out_rows(1) * (MAX_ROWS + 1))
    one = tensors(held_out_rows(1))

    # When they are sent without a key, and with one
    with pytest.raises(InferenceServerException) as no_key:
        client.infer(MODEL, one)
    with pytest.raises(InferenceServerException) as over:
        client.infer(MODEL, too_many, headers={"X-API-Key": KEY})
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    status, headers, body = call(
        connection,
        "POST",
        f"/v2/models/{MODEL}/infer",
        b'{"inputs": [',
        {"X-API-Key": KEY, "X-Request-ID": "oip-42"},
    )
    connection.close()

    # Then: 401 without the key, 413 over MAX_ROWS, bad JSON a 400 with the id echoed
    assert no_key.value.status() == "401"
    assert "X-API-Key" in no_key.value.message()
    assert over.value.status() == "413"
    assert "MAX_ROWS" in over.value.message()
    assert status == 400
    assert body == {"error": "the request is not valid JSON: Expecting value"}
    assert headers["X-Request-ID"] == "oip-42"
    wait_until_logged(server.log_path, "oip-42", count=1, timeout=10)
