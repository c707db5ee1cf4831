"""Request ids, logging, CORS, the last-resort 500, and predictions off the event loop."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx2
import numpy as np
import pytest
from app.api.deps import get_ready_model
from app.config import Settings
from app.main import create_app
from fastapi.testclient import TestClient
from loguru import logger

from regression_model import EXAMPLE_HOUSE, LoadedModel, load_model

PREDICT = "/api/v1/predict"


class _FakeScorer:
    """Scores every record as $100,000 after ``delay`` seconds, or raises."""

    def __init__(self, features: list[str], delay: float = 0.0, fail: bool = False):
        self.features = features
        self.delay = delay
        self.fail = fail

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        if self.fail:
            raise RuntimeError("secret internal detail")
        time.sleep(self.delay)
        return np.full(len(records), np.log(100_000.0))


def _served(scorer: _FakeScorer) -> LoadedModel:
    """The packaged model with ``scorer``, served as a pipeline (priced in the pool)."""
    return replace(load_model(), backend="pipeline", version="fake", scorer=scorer)


def test_a_safe_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123.x:y"})

    assert response.headers["x-request-id"] == "abc-123.x:y"


@pytest.mark.parametrize("given", [None, "", "a b", "x" * 129, "id;drop"])
def test_a_missing_or_unsafe_request_id_is_replaced(
    client: TestClient, given: str | None
) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}

    response = client.get("/api/v1/health", headers=headers)

    generated = response.headers["x-request-id"]
    assert generated != given
    assert len(generated) == 32


def test_every_log_line_of_a_request_carries_its_id_and_no_payload(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an app logging at INFO and a row with a recognisable value
    client = make_client(log_level="INFO")
    row = {**EXAMPLE_HOUSE, "GarageArea": 31337, "Neighborhood": "Zzyzx"}
    capsys.readouterr()
    # When a prediction is requested with a known id
    client.post(PREDICT, json={"inputs": [row]}, headers={"X-Request-ID": "req-42"})
    # Then each line logged for it names the id, and none shows the payload
    lines = [line for line in capsys.readouterr().err.splitlines() if "| app." in line]
    assert any(
        "POST /api/v1/predict -> 422 in " in line
        and line.endswith("; priced 0 of 1 rows (1 errors)")
        for line in lines
    )
    assert all("| req-42 |" in line for line in lines)
    assert not any("Zzyzx" in line or "31337" in line for line in lines)


def test_json_logs_are_one_object_per_line_with_the_request_id(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_format="json")
    capsys.readouterr()

    client.get("/api/v1/health", headers={"X-Request-ID": "req-json"})

    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [r for r in records if "GET /api/v1/health" in r["text"]]
    assert access
    assert access[0]["record"]["extra"]["request_id"] == "req-json"


ACCESS_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} \| INFO    \| req-text \| "
    r"app\.middleware \| POST /api/v1/predict -> 200 in \d+\.\d ms; "
    r"priced 1 of 1 rows \(0 errors\)"
)


def test_the_text_access_line_has_the_format_of_every_other_line(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an app logging text (the access line skips loguru for speed)
    client = make_client(log_format="text")
    capsys.readouterr()
    # When a house is priced
    body = {"inputs": [EXAMPLE_HOUSE]}
    client.post(PREDICT, json=body, headers={"X-Request-ID": "req-text"})
    logger.info("a line from loguru")
    # Then its one access line is laid out as loguru lays out the others
    lines = capsys.readouterr().err.splitlines()
    access = [line for line in lines if "| req-text |" in line]
    assert len(access) == 1
    assert ACCESS_LINE.fullmatch(access[0]), access[0]
    (other,) = [line for line in lines if line.endswith("a line from loguru")]
    assert re.sub(r"\d", "0", access[0])[:31] == re.sub(r"\d", "0", other)[:31]


def test_a_path_cannot_forge_a_log_line(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a path whose percent-encoding decodes to a line break and a fake line
    client = make_client(log_format="text")
    capsys.readouterr()
    forged = "INFO    | admin | app.middleware | GET /api/v1/health -> 200"
    client.get(f"/x%0A{forged.replace(' ', '%20')}", headers={"X-Request-ID": "f"})
    # Then the access line keeps it encoded, on one line, and no line is forged
    lines = capsys.readouterr().err.splitlines()
    (access,) = [line for line in lines if "| f |" in line]
    assert "GET /x%0AINFO%20" in access
    assert " -> 404 in " in access
    assert not [line for line in lines if line.startswith("INFO")]


def test_json_access_lines_say_what_the_request_did(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_format="json")
    capsys.readouterr()

    client.post(PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "j"})

    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line)["record"] for line in lines if line]
    (access,) = [r for r in records if r["extra"]["request_id"] == "j"]
    assert access["name"] == "app.middleware"
    assert access["level"]["name"] == "INFO"
    assert access["message"].startswith("POST /api/v1/predict -> 200 in ")
    assert access["message"].endswith("; priced 1 of 1 rows (0 errors)")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_access_line_above_info(
    make_client: Callable[..., TestClient],
    capsys: pytest.CaptureFixture[str],
    log_format: str,
) -> None:
    client = make_client(log_level="WARNING", log_format=log_format)
    capsys.readouterr()

    client.post(PREDICT, json={"inputs": [EXAMPLE_HOUSE]})

    assert "/api/v1/predict" not in capsys.readouterr().err


def test_an_unexpected_error_is_a_clean_json_500(client: TestClient) -> None:
    # Given a scorer that blows up
    broken = _served(_FakeScorer(["GrLivArea"], fail=True))
    client.app.dependency_overrides[get_ready_model] = lambda: broken  # type: ignore[attr-defined]
    # When a valid row is sent
    response = client.post(PREDICT, json={"inputs": [EXAMPLE_HOUSE]})
    # Then the client gets a plain 500 with the request id and no internals
    assert response.status_code == 500
    body = response.json()
    assert body == {
        "detail": "internal error; quote the request id",
        "request_id": response.headers["x-request-id"],
    }
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.options(
        PREDICT,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )

    assert "access-control-allow-origin" not in response.headers


def test_configured_origins_may_call_from_a_browser(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cors_origins=["https://app.example"])

    allowed = client.options(
        PREDICT,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    other = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_predictions_run_off_the_event_loop() -> None:
    # Given a scorer that takes 0.4 s per call, and an app using it
    app = create_app(Settings())
    slow = _served(_FakeScorer(["GrLivArea"], delay=0.4))
    app.dependency_overrides[get_ready_model] = lambda: slow
    app.state.served_model = slow
    threads_seen: set[int] = set()
    original = slow.scorer.predict_log_price

    def recording(records: Sequence[dict[str, Any]]) -> np.ndarray:
        threads_seen.add(threading.get_ident())
        return original(records)

    slow.scorer.predict_log_price = recording

    async def scenario() -> tuple[float, float]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            started = time.perf_counter()
            body = {"inputs": [EXAMPLE_HOUSE]}
            predictions = [http.post(PREDICT, json=body) for _ in range(4)]
            health = asyncio.create_task(http.get("/api/v1/health"))
            await asyncio.sleep(0.05)
            await health
            health_done = time.perf_counter() - started
            responses = await asyncio.gather(*predictions)
            assert all(r.status_code == 200 for r in responses)
            return health_done, time.perf_counter() - started

    # When four predictions and a health check are sent at once
    health_done, all_done = asyncio.run(scenario())
    # Then they overlap instead of queueing behind each other on the loop
    assert health_done < 0.3
    assert all_done < 4 * 0.4
    assert threading.get_ident() not in threads_seen
