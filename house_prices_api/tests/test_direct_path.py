"""``PredictRoute``'s direct path: FastAPI's answers without its per-request work.

Every request is sent twice: to an app as it runs, and to the same app with
a dependency override in place, which makes every request take FastAPI's
handler. The two answers must match (status, content type, JSON body, with
the random request id set aside).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from app.api import deps
from app.api.predict import add_predict_route
from app.config import Settings
from app.main import create_app
from fastapi import Depends, FastAPI, HTTPException
from fastapi.dependencies.utils import solve_dependencies
from fastapi.testclient import TestClient
from opentelemetry import trace

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
KEY = "direct-path-key-5e2a91c7"
ROW = dict(EXAMPLE_HOUSE)

# (name, body: JSON-able or raw bytes, extra headers)
REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    ("one house", {"inputs": [ROW]}, {}),
    (
        "a batch with bad rows",
        {"inputs": [ROW, {**ROW, "Neighborhood": "Atlantis"}, "not a row", None]},
        {},
    ),
    ("no row priced", {"inputs": [{**ROW, "GrLivArea": 0}]}, {}),
    ("an extra envelope key", {"inputs": [ROW], "note": "ignored"}, {}),
    ("more rows than MAX_ROWS", {"inputs": [ROW] * 3}, {}),
    ("empty inputs", {"inputs": []}, {}),
    ("inputs not a list", {"inputs": {"0": ROW}}, {}),
    ("no inputs", {"rows": [ROW]}, {}),
    ("a list for a body", [ROW], {}),
    ("a string for a body", "inputs", {}),
    ("broken JSON", b'{"inputs": [', {}),
    ("NaN", b'{"inputs": [{"GrLivArea": NaN}]}', {}),
    ("a duplicate key", b'{"inputs": [], "inputs": [1]}', {}),
    ("not JSON", b"inputs=1", {"Content-Type": "text/plain"}),
    ("compressed", b"\x1f\x8b", {"Content-Encoding": "gzip"}),
]


def send(client: TestClient, body: Any, headers: dict[str, str]) -> Any:
    if isinstance(body, bytes):
        headers = {"Content-Type": "application/json", **headers}
        return client.post(PREDICT, content=body, headers=headers)
    return client.post(PREDICT, json=body, headers=headers)


def answer(response: Any) -> tuple[int, str, Any]:
    """What a client reads from a response, minus its (random) request id."""
    body = json.loads(response.content)
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, response.headers["content-type"], body


@pytest.fixture
def client_pair(
    make_client: Callable[..., TestClient],
) -> Callable[..., tuple[TestClient, TestClient]]:
    """(as it runs, through FastAPI's handler only) for apps with the given settings."""

    def build(**settings: Any) -> tuple[TestClient, TestClient]:
        direct = make_client(max_rows=2, **settings)
        handler_only = create_app(Settings(max_rows=2, **settings))
        # Any override sends every request to FastAPI's handler; this one
        # changes nothing else.
        handler_only.dependency_overrides[deps.get_settings] = deps.get_settings
        return direct, make_client(handler_only)

    return build


@pytest.mark.parametrize(
    ("name", "body", "headers"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
def test_the_direct_path_answers_as_fastapis_handler_does(
    client_pair: Callable[..., tuple[TestClient, TestClient]],
    name: str,
    body: Any,
    headers: dict[str, str],
) -> None:
    direct, handler_only = client_pair()

    assert answer(send(direct, body, headers)) == answer(
        send(handler_only, body, headers)
    )


@pytest.mark.parametrize(
    ("given", "expected"), [(KEY, 200), ("wrong", 401), ("", 401), (None, 401)]
)
def test_keys_are_checked_as_fastapis_handler_checks_them(
    client_pair: Callable[..., tuple[TestClient, TestClient]],
    given: str | None,
    expected: int,
) -> None:
    direct, handler_only = client_pair(api_keys=[KEY])
    headers = {} if given is None else {"X-API-Key": given}

    got = answer(send(direct, {"inputs": [ROW]}, headers))

    assert got == answer(send(handler_only, {"inputs": [ROW]}, headers))
    assert got[0] == expected


def test_a_well_formed_request_skips_dependency_solving(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given FastAPI's dependency solver, counted
    calls: list[str] = []

    async def counted(**kwargs: Any) -> Any:
        calls.append(str(kwargs["request"].url.path))
        return await solve_dependencies(**kwargs)

    monkeypatch.setattr("fastapi.routing.solve_dependencies", counted)
    # When a well-formed batch and then a malformed envelope are sent
    priced = client.post(PREDICT, json={"inputs": [ROW]})
    malformed = client.post(PREDICT, json={"inputs": "one"})
    # Then only the malformed one went through FastAPI's handler
    assert (priced.status_code, malformed.status_code) == (200, 422)
    assert calls == [PREDICT]


def test_a_dependency_the_direct_path_does_not_know_turns_it_off(
    client: TestClient,
) -> None:
    # Given a second prediction route that depends on something new
    async def teapot() -> None:
        raise HTTPException(418, detail="the new dependency ran")

    app = client.app
    assert isinstance(app, FastAPI)
    add_predict_route(
        app.router, prefix="/v2", dependencies=[Depends(teapot)], responses={}
    )
    # When a well-formed batch is sent to each route
    guarded = client.post("/v2/predict", json={"inputs": [ROW]})
    plain = client.post(PREDICT, json={"inputs": [ROW]})
    # Then the new dependency ran: its route never takes the direct path
    assert guarded.status_code == 418
    assert guarded.json()["detail"] == "the new dependency ran"
    assert plain.status_code == 200


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
) -> None:
    # Given a process with a tracer provider, and an app with OPENTELEMETRY set or not
    client = make_client(opentelemetry=enabled)
    global_tracer_provider.names.clear()
    # When a batch is priced
    response = client.post(PREDICT, json={"inputs": [ROW]})
    # Then FastAPI made spans for it exactly when the setting is on
    assert response.status_code == 200
    assert bool(global_tracer_provider.names) is enabled
