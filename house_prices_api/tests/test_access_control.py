"""Optional API keys on predictions: open by default, closed and quiet when configured."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import pytest
from app.api import auth
from app.config import Settings
from fastapi.testclient import TestClient

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
FIRST_KEY = "first-key-7c1d9e0a4b52f8"
SECOND_KEY = "second-key-3a8e6f2d0c91b7"
BODY = {"inputs": [EXAMPLE_HOUSE]}


@pytest.fixture
def keyed_client(make_client: Callable[..., TestClient]) -> TestClient:
    """An app with two API keys configured."""
    return make_client(api_keys=[FIRST_KEY, SECOND_KEY])


def test_the_api_is_open_by_default(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    # Given no API_KEYS in the environment
    monkeypatch.delenv("API_KEYS", raising=False)
    client = make_client()
    # When a prediction is asked for without a key
    response = client.post(PREDICT, json=BODY)
    # Then it is served, and the document declares no security scheme
    assert Settings().api_keys == []
    assert response.status_code == 200
    spec = client.get("/openapi.json").json()
    assert "security" not in spec["paths"][PREDICT]["post"]
    assert "401" not in spec["paths"][PREDICT]["post"]["responses"]


def test_keys_are_read_from_the_environment_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_KEYS", f" {FIRST_KEY} ,, {SECOND_KEY} ")

    keys = Settings().api_keys

    assert [key.get_secret_value() for key in keys] == [FIRST_KEY, SECOND_KEY]
    assert FIRST_KEY not in repr(Settings())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 401),
        ({"X-API-Key": ""}, 401),
        ({"X-API-Key": "wrong-key"}, 401),
        ({"X-API-Key": FIRST_KEY[:-1]}, 401),  # a prefix of a real key
        ({"X-API-Key": FIRST_KEY + "x"}, 401),
        ({"X-API-Key": FIRST_KEY.upper()}, 401),
        ({"X-API-Key": f"{FIRST_KEY},{SECOND_KEY}"}, 401),
        ({"X-API-Key": "kéy-ü".encode("latin-1")}, 401),  # not ASCII: no 500
        ({"Authorization": f"Bearer {FIRST_KEY}"}, 401),  # the wrong header
        ({"X-API-Key": FIRST_KEY}, 200),
        ({"X-API-Key": SECOND_KEY}, 200),
        ({"x-api-key": SECOND_KEY}, 200),  # header names are case-insensitive
    ],
    ids=[
        "missing",
        "empty",
        "wrong",
        "prefix",
        "longer",
        "other-case",
        "both-keys",
        "non-ascii",
        "bearer",
        "first",
        "second",
        "lower-case-header",
    ],
)
def test_only_a_configured_key_is_let_through(
    keyed_client: TestClient, headers: dict[str, str | bytes], expected: int
) -> None:
    response = keyed_client.post(PREDICT, json=BODY, headers=headers)

    assert response.status_code == expected
    if expected == 401:
        assert response.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
        assert response.json()["detail"] == auth.UNAUTHORIZED_DETAIL


def test_a_missing_and_a_wrong_key_get_the_same_answer(keyed_client: TestClient) -> None:
    # Given the same request id, so that the bodies may be compared byte for byte
    request_id = {"X-Request-ID": "same-id"}
    # When one request has no key and one a wrong key
    missing = keyed_client.post(PREDICT, json=BODY, headers=request_id)
    wrong = keyed_client.post(
        PREDICT, json=BODY, headers={**request_id, "X-API-Key": "nope"}
    )
    # Then nothing tells them apart, nor hints at which keys exist
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.content == wrong.content
    assert dict(missing.headers) == dict(wrong.headers)
    assert FIRST_KEY not in missing.text
    assert SECOND_KEY not in missing.text


@pytest.mark.parametrize("given", [FIRST_KEY, SECOND_KEY, "wrong", None])
def test_every_key_is_compared_in_constant_time(
    keyed_client: TestClient, monkeypatch: pytest.MonkeyPatch, given: str | None
) -> None:
    # Given hmac.compare_digest, watched
    calls: list[tuple[Any, Any]] = []
    real_compare = hmac.compare_digest

    def watched(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", watched)
    headers = {"X-API-Key": given} if given is not None else {}
    # When a request arrives with a right key, a wrong one or none
    keyed_client.post(PREDICT, json=BODY, headers=headers)
    # Then each configured key was compared once, even after a match, on
    # digests of one length (so not even a key's length can be timed)
    assert len(calls) == 2
    assert all(len(a) == len(b) == 32 for a, b in calls)


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/health", "/docs", "/redoc", "/openapi.json"]
)
def test_health_docs_and_the_home_page_stay_open(
    keyed_client: TestClient, path: str
) -> None:
    assert keyed_client.get(path).status_code == 200


def test_the_openapi_document_declares_the_key_on_predictions_only(
    keyed_client: TestClient,
) -> None:
    spec = keyed_client.get("/openapi.json").json()

    scheme = spec["components"]["securitySchemes"]["APIKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == (
        "apiKey",
        "header",
        "X-API-Key",
    )
    predict = spec["paths"][PREDICT]["post"]
    assert predict["security"] == [{"APIKey": []}]
    assert "401" in predict["responses"]
    assert "security" not in spec["paths"]["/api/v1/health"]["get"]


def test_keys_never_reach_the_log(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an app logging everything, with a key configured
    client = make_client(api_keys=[FIRST_KEY], log_level="TRACE")
    # When requests come with the right key, a wrong one and the wrong header
    client.post(PREDICT, json=BODY, headers={"X-API-Key": FIRST_KEY})
    client.post(PREDICT, json=BODY, headers={"X-API-Key": "wrong-key-31337"})
    client.post(PREDICT, json=BODY, headers={"Authorization": FIRST_KEY})
    # Then neither key appears in what the app logged
    logged = capsys.readouterr().err
    assert "POST /api/v1/predict -> 401" in logged
    assert FIRST_KEY not in logged
    assert "wrong-key-31337" not in logged


def test_a_browser_origin_may_send_the_key(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(api_keys=[FIRST_KEY], cors_origins=["https://app.example"])

    preflight = client.options(
        PREDICT,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )

    assert preflight.status_code == 200
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()


def test_the_key_is_checked_before_the_body_is_parsed(keyed_client: TestClient) -> None:
    # Given a wrong key on a request whose body is not even JSON
    broken = keyed_client.post(
        PREDICT,
        content=b'{"inputs": [',
        headers={"Content-Type": "application/json", "X-API-Key": "wrong"},
    )
    # Then the answer is the 401: an unauthenticated body is never parsed
    assert broken.status_code == 401
    # while what the headers alone decide (not JSON at all) still comes first
    not_json = keyed_client.post(
        PREDICT, content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 415
