"""What every response carries and what no response gives away: request ids,
closed CORS, 500s without internals."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from typing import Any

import app.api.predict
import pytest
from app.config import Settings
from app.main import create_app
from fastapi.testclient import TestClient

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
KEY = "hygiene-key-0f3b9a71c2"
ORIGIN = "https://app.example"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def guarded_client(make_client: Callable[..., TestClient]) -> TestClient:
    """An app with every guard on: keys, CORS, small limits."""
    return make_client(
        api_keys=[KEY], cors_origins=[ORIGIN], max_rows=2, max_body_bytes=50_000
    )


def _raise_with_internals(**_: Any) -> None:
    raise RuntimeError(
        "Traceback: cannot open /work/main/regression_model/trained_models/x.pkl"
    )


# (name, method, path, keyword arguments for the client, expected status)
REQUESTS: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("home", "GET", "/", {}, 200),
    ("docs", "GET", "/docs", {}, 200),
    ("redoc", "GET", "/redoc", {}, 200),
    ("openapi", "GET", "/openapi.json", {}, 200),
    ("health", "GET", "/api/v1/health", {}, 200),
    ("priced", "POST", PREDICT, {"json": {"inputs": [EXAMPLE_HOUSE]}}, 200),
    ("no row priced", "POST", PREDICT, {"json": {"inputs": [{}]}}, 422),
    ("bad envelope", "POST", PREDICT, {"content": b"{", "headers": JSON}, 422),
    ("no key", "POST", PREDICT, {"json": {}, "headers": {"X-API-Key": None}}, 401),
    ("not json", "POST", PREDICT, {"content": b"x", "headers": {}}, 415),
    (
        "gzip",
        "POST",
        PREDICT,
        {
            "content": gzip.compress(b'{"inputs": [{}]}'),
            "headers": {**JSON, "Content-Encoding": "gzip"},
        },
        415,
    ),
    ("too many rows", "POST", PREDICT, {"json": {"inputs": [{}] * 3}}, 413),
    ("too many bytes", "POST", PREDICT, {"content": b" " * 50_001, "headers": JSON}, 413),
    ("not found", "GET", "/no-such-page", {}, 404),
    ("wrong method", "GET", PREDICT, {}, 405),
    (
        "preflight",
        "OPTIONS",
        PREDICT,
        {
            "headers": {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
            }
        },
        200,
    ),
    ("bug", "POST", PREDICT, {"json": {"inputs": [EXAMPLE_HOUSE]}}, 500),
]


@pytest.mark.parametrize("case", REQUESTS, ids=[case[0] for case in REQUESTS])
@pytest.mark.parametrize("client_id", [None, "client-chosen-id.42"])
def test_every_response_carries_a_request_id(
    guarded_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, str, dict[str, Any], int],
    client_id: str | None,
) -> None:
    _, method, path, kwargs, expected = case
    # Given a request of any kind, the client's own id or none
    if expected == 500:
        monkeypatch.setattr(app.api.predict, "make_prediction", _raise_with_internals)
    kwargs = dict(kwargs)
    headers = {"X-API-Key": KEY, **kwargs.pop("headers", {})}
    if client_id:
        headers["X-Request-ID"] = client_id
    headers = {name: value for name, value in headers.items() if value is not None}
    # When it is answered
    response = guarded_client.request(method, path, headers=headers, **kwargs)
    # Then the answer has the expected status and names the request
    assert response.status_code == expected, response.text[:300]
    request_id = response.headers["x-request-id"]
    if client_id:
        assert request_id == client_id
    else:
        assert GENERATED_ID.fullmatch(request_id)
    if response.headers["content-type"] == "application/json" and "detail" in (
        body := response.json()
    ):
        assert body["request_id"] == request_id


def test_the_health_check_of_an_unready_app_carries_a_request_id() -> None:
    client = TestClient(create_app(Settings()))  # the lifespan never runs

    response = client.get("/api/v1/health")

    assert response.status_code == 503
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


def test_an_internal_error_gives_away_nothing(
    make_client: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a bug that raises with a file path and a traceback in its message
    client = make_client()
    monkeypatch.setattr(app.api.predict, "make_prediction", _raise_with_internals)
    # When a valid request meets it
    response = client.post(
        PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "bug-1"}
    )
    # Then the client gets a plain JSON 500 with the request id, and nothing else
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "internal error; quote the request id",
        "request_id": "bug-1",
    }
    for leak in ("Traceback", "/", "RuntimeError", "trained_models", ".pkl", "x.pkl"):
        assert leak not in response.text
    # And the traceback is in the log, under the request id
    logged = capsys.readouterr().err
    assert "| bug-1 |" in logged
    assert "RuntimeError" in logged
    # And the app goes on serving
    assert client.get("/api/v1/health").status_code == 200


def test_cors_is_closed_without_cors_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no CORS_ORIGINS in the environment
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    with TestClient(create_app()) as client:
        # When a browser on any origin asks to call the API
        preflight = client.options(
            PREDICT,
            headers={
                "Origin": "https://anywhere.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        simple = client.get(
            "/api/v1/health", headers={"Origin": "https://anywhere.example"}
        )
    # Then no response allows it
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_exactly_the_configured_origins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f"{ORIGIN}, https://other.example")
    with TestClient(create_app()) as client:

        def preflight(origin: str) -> Any:
            return client.options(
                PREDICT,
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )

        allowed = preflight(ORIGIN)
        refused = preflight("https://evil.example")

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in refused.headers
    assert refused.status_code == 400
