"""The real service over real HTTP: bin/start -> uvicorn on a loopback port.

The server fixture runs with MAX_ROWS=300 and MAX_BODY_BYTES=2,000,000 so the
limits can be crossed cheaply.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import HEALTH_PATH, RunningServer, call

from regression_model.processing.schema import EXAMPLE_HOUSE, field_labels

pytestmark = pytest.mark.process

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def connection(live_server: RunningServer) -> Iterator[http.client.HTTPConnection]:
    conn = live_server.connect()
    yield conn
    conn.close()


def _predict(conn: http.client.HTTPConnection, rows: list[Any]) -> tuple[int, Any]:
    status, _, body = call(conn, "POST", PREDICT, {"inputs": rows})
    return status, body


def _assert_one_slot_per_row(body: dict[str, Any], rows: list[Any]) -> None:
    assert len(body["predictions"]) == len(rows)
    erred = {error["row"] for error in body["errors"]}
    for index, price in enumerate(body["predictions"]):
        assert (price is None) == (index in erred), f"row {index}"


def test_health_and_request_id_over_http(connection: http.client.HTTPConnection) -> None:
    status, headers, body = call(
        connection, "GET", HEALTH_PATH, headers={"X-Request-ID": "e2e-1"}
    )

    assert status == 200
    assert body["model_loaded"]
    assert body["self_test_passed"]
    assert headers["X-Request-ID"] == "e2e-1"


def test_a_batch_mixing_good_and_bad_rows_drops_nothing(
    connection: http.client.HTTPConnection,
) -> None:
    # Given 120 rows, every third one broken in a different way
    breakages: list[dict[str, Any]] = [
        {"Neighborhood": "Atlantis"},
        {"OverallQual": 11},
        {"GrLivArea": -5},
        {"LotArea": "big"},
        {"GrLivArea": None},
        {"CentralAir": "Maybe"},
    ]
    rows: list[Any] = []
    for index in range(120):
        row = {**EXAMPLE_HOUSE, "GrLivArea": 800 + 10 * index}
        if index % 3 == 2:
            row.update(breakages[(index // 3) % len(breakages)])
        rows.append(row)
    # When they are sent in one request
    status, body = _predict(connection, rows)
    # Then each row has its slot: 80 prices, 40 errors, in input order
    assert status == 200
    _assert_one_slot_per_row(body, rows)
    assert sum(price is not None for price in body["predictions"]) == 80
    assert len({error["row"] for error in body["errors"]}) == 40


def test_rows_missing_values_in_many_fields_are_priced(
    connection: http.client.HTTPConnection,
) -> None:
    required = ("GrLivArea", "OverallQual", "Neighborhood")
    optional = [name for name in EXAMPLE_HOUSE if name not in required]
    present = {name: EXAMPLE_HOUSE[name] for name in required}
    rows: list[dict[str, Any]] = [
        {**EXAMPLE_HOUSE, **dict.fromkeys(optional[offset::4])} for offset in range(4)
    ]
    rows.append(present)
    rows.append({**dict.fromkeys(optional), **present})
    rows.append({**dict.fromkeys(optional, "NA"), **present})

    status, body = _predict(connection, rows)

    assert status == 200
    assert body["errors"] == []
    assert all(price is not None for price in body["predictions"])
    assert {entry["row"] for entry in body["imputed"]} == set(range(len(rows)))


def test_every_allowed_label_and_illegal_ones_get_an_answer(
    connection: http.client.HTTPConnection,
) -> None:
    # Given one row per allowed label of every categorical field (many never seen
    # in training), plus illegal labels and odd spellings
    rows: list[dict[str, Any]] = [
        {**EXAMPLE_HOUSE, field: label}
        for field, labels in field_labels().items()
        for label in labels
    ]
    illegal = [
        {**EXAMPLE_HOUSE, "Neighborhood": "Atlantis"},
        {**EXAMPLE_HOUSE, "MSSubClass": 25},
        {**EXAMPLE_HOUSE, "Functional": "Maybe"},
        {**EXAMPLE_HOUSE, "KitchenQual": ""},  # empty means missing: imputed
        {**EXAMPLE_HOUSE, "MSZoning": " rl "},  # case and blanks are forgiven
    ]
    # When they are all sent
    status, body = _predict(connection, rows + illegal)
    # Then nothing fails as a whole: each row is priced or explained
    assert status == 200
    _assert_one_slot_per_row(body, rows + illegal)
    bad = {error["row"] for error in body["errors"]}
    first_illegal = len(rows)
    assert {first_illegal, first_illegal + 1, first_illegal + 2} <= bad
    assert first_illegal + 3 not in bad
    assert first_illegal + 4 not in bad


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("LotArea", "big"),
        ("OverallQual", "seven"),
        ("GrLivArea", [1500]),
        ("GrLivArea", {"value": 1500}),
        ("Neighborhood", 42),
        ("YrSold", True),
        ("TotalBsmtSF", 1e308),
        ("MSSubClass", 60.5),
    ],
)
def test_wrong_types_are_per_row_errors(
    connection: http.client.HTTPConnection, field: str, value: Any
) -> None:
    rows = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, field: value}]

    status, body = _predict(connection, rows)

    assert status == 200
    assert body["predictions"][1] is None
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(1, field)}


def test_a_number_that_overflows_to_infinity_is_a_per_row_error(
    connection: http.client.HTTPConnection,
) -> None:
    others = {name: value for name, value in EXAMPLE_HOUSE.items() if name != "LotArea"}
    row = json.dumps(others)[:-1] + ', "LotArea": 1e400}'
    raw = f'{{"inputs": [{json.dumps(EXAMPLE_HOUSE)}, {row}]}}'.encode()

    status, _, body = call(connection, "POST", PREDICT, raw, JSON)

    assert status == 200
    assert body["predictions"][1] is None
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(1, "LotArea")]


def test_huge_strings_are_refused_briefly(connection: http.client.HTTPConnection) -> None:
    huge = "x" * 500_000
    rows = [
        {**EXAMPLE_HOUSE, "Neighborhood": huge},
        {**EXAMPLE_HOUSE, "GrLivArea": huge},
        {**EXAMPLE_HOUSE, "SomeUnknownColumn": huge},
    ]

    status, body = _predict(connection, rows)

    assert status == 200
    assert body["predictions"][0] is None
    assert body["predictions"][1] is None
    assert body["predictions"][2] is not None  # unknown columns are ignored
    assert all(len(error["message"]) < 200 for error in body["errors"])


def test_too_many_rows_is_413_naming_the_limit(
    connection: http.client.HTTPConnection,
) -> None:
    status, body = _predict(connection, [{}] * 301)

    assert status == 413
    assert "limit of 300 rows" in body["detail"]


def test_a_declared_oversized_body_is_413(connection: http.client.HTTPConnection) -> None:
    status, _, body = call(
        connection, "POST", PREDICT, b"{" + b" " * 2_000_001 + b"}", JSON
    )

    assert status == 413
    assert "limit of 2000000 bytes" in body["detail"]


def test_a_chunked_oversized_body_is_413(connection: http.client.HTTPConnection) -> None:
    # Given a body with no Content-Length, streamed row by row past the 2 MB limit
    row = json.dumps(EXAMPLE_HOUSE).encode()

    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": ['
        for _ in range(2_300_000 // len(row)):  # about 2.3 MB
            yield row + b","
        yield row + b"]}"

    # When it is sent chunked
    connection.request("POST", PREDICT, body=chunks(), headers=JSON, encode_chunked=True)
    response = connection.getresponse()
    body = json.loads(response.read())
    # Then the streamed bytes are counted and refused
    assert response.status == 413
    assert "limit of 2000000 bytes" in body["detail"]


@pytest.mark.parametrize(
    "raw",
    [b'{"inputs": [{"LotArea": NaN}]}', b"[" * 50_000, b"not json", b'{"inputs": "x"}'],
)
def test_malformed_bodies_are_4xx_and_the_server_stays_up(
    connection: http.client.HTTPConnection, raw: bytes
) -> None:
    status, _, _ = call(connection, "POST", PREDICT, raw, JSON)
    assert status == 422
    assert call(connection, "GET", HEALTH_PATH)[0] == 200


def test_one_keep_alive_connection_survives_error_responses(
    live_server: RunningServer,
) -> None:
    # Given one HTTP/1.1 connection, reused for every request
    conn = live_server.connect()
    try:
        exchanges: list[tuple[bytes | dict[str, Any] | None, dict[str, str], int]] = [
            ({"inputs": []}, JSON, 422),
            (b'{"inputs": [', JSON, 422),
            (b'{"inputs": [{}]}', {"Content-Type": "text/plain"}, 415),
            ({"inputs": [{}] * 301}, JSON, 413),
            (b"{" + b" " * 2_000_001 + b"}", JSON, 413),
            ({"inputs": [{"Neighborhood": "X"}]}, JSON, 422),
            ({"inputs": [EXAMPLE_HOUSE]}, JSON, 200),
        ]
        call(conn, "GET", HEALTH_PATH)
        socket_in_use = conn.sock
        # When error responses come back on it, followed by a good request
        for body, headers, expected in exchanges:
            status, response_headers, _ = call(conn, "POST", PREDICT, body, headers)
            # Then every response arrives on the same, still-open socket
            assert status == expected
            assert response_headers.get("Connection", "").lower() != "close"
            assert conn.sock is socket_in_use, f"reconnected after a {status}"
        status, _, _ = call(conn, "GET", "/no-such-page")
        assert status == 404
        assert conn.sock is socket_in_use
    finally:
        conn.close()


def wait_for_log(server: RunningServer, pattern: str, timeout: float = 10) -> str:
    """The server's log once ``pattern`` appears in it.

    The access line is written after the response has been sent, so a client
    can read the log before the line lands.
    """
    deadline = time.monotonic() + timeout
    while True:
        log = server.log_text()
        if re.search(pattern, log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_the_log_has_request_ids_and_no_payloads(
    live_server: RunningServer, connection: http.client.HTTPConnection
) -> None:
    marker = {**EXAMPLE_HOUSE, "Neighborhood": "Zzyzx-e2e"}

    call(connection, "POST", PREDICT, {"inputs": [marker]}, {"X-Request-ID": "log-check"})

    # One access line per request, saying what the request did
    access_line = (
        r"\| log-check \| app\.middleware \| POST /api/v1/predict -> 422 "
        r"in [0-9.]+ ms; priced 0 of 1 rows \(1 errors\)\n"
    )
    log = wait_for_log(live_server, access_line)
    assert re.search(access_line, log)
    assert log.count("| log-check |") == 1
    assert "Zzyzx-e2e" not in log
    assert "model package regression_model" in log
