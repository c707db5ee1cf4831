"""The hostile input catalogue: each bad input the service was tried with, and its answer.

Each case here is one row of the table "Hostile input catalogue" in
docs/security.md, under the same id (a test keeps the two in step).
Payload cases run in process; transport cases (compression, byte limits,
slow bodies, framing) run against a real server (bin/start -> uvicorn) over
raw sockets, and check that the server stays up and that the connection is
kept wherever HTTP allows it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from app.config import DEFAULT_MAX_BODY_BYTES, Settings
from app.main import create_app
from fastapi.testclient import TestClient
from servers import API_DIR, HEALTH_PATH, START_SCRIPT, RunningServer, call, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}
MEGABYTE_TEXT = "x" * 1_000_000
SERVER_MAX_BODY_BYTES = 2_000_000
SERVER_BODY_TIMEOUT = 1.0
Shape = Literal["envelope", "rows", "error"]


def house(**raw_values: str) -> str:
    """The example house as JSON text, with fields set to raw JSON literals."""
    row = {name: value for name, value in EXAMPLE_HOUSE.items() if name not in raw_values}
    text = json.dumps(row)[:-1]
    for name, literal in raw_values.items():
        text += f", {json.dumps(name)}: {literal}"
    return text + "}"


def batch(*rows: str) -> bytes:
    """``{"inputs": [rows...]}`` from rows given as JSON text."""
    return f'{{"inputs": [{", ".join(rows)}]}}'.encode()


GOOD = house()


@dataclass(frozen=True)
class Hostile:
    """One payload and the answer it must get."""

    case_id: str
    body: bytes
    status: int
    shape: Shape
    says: str = ""  # part of the message(s)
    row_errors: tuple[tuple[int, str], ...] = ()  # (row, field) of each row error
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


PAYLOAD_CASES = [
    Hostile("inputs-object", b'{"inputs": {"GrLivArea": 1}}', 422, "envelope", "list"),
    Hostile("inputs-string", b'{"inputs": "rows"}', 422, "envelope", "list"),
    Hostile("inputs-number", b'{"inputs": 7}', 422, "envelope", "list"),
    Hostile("inputs-null", b'{"inputs": null}', 422, "envelope", "list"),
    Hostile("inputs-empty", b'{"inputs": []}', 422, "envelope", "at least one row"),
    Hostile("inputs-missing", b"{}", 422, "envelope", "required"),
    Hostile("body-array", b"[" + GOOD.encode() + b"]", 422, "envelope", "object"),
    Hostile("body-string", b'"inputs"', 422, "envelope", "object"),
    Hostile("row-string", batch(GOOD, '"house"'), 200, "rows", "", ((1, "__row__"),)),
    Hostile("row-array", batch(GOOD, "[1804, 7]"), 200, "rows", "", ((1, "__row__"),)),
    Hostile("row-null", batch(GOOD, "null"), 200, "rows", "", ((1, "__row__"),)),
    Hostile(
        "rows-all-bad",
        batch('"house"', "null"),
        422,
        "rows",
        "",
        ((0, "__row__"), (1, "__row__")),
    ),
    Hostile("nan", batch(house(LotArea="NaN")), 422, "envelope", "NaN is not valid"),
    Hostile("infinity", batch(house(LotArea="Infinity")), 422, "envelope", "Infinity"),
    Hostile(
        "minus-infinity", batch(house(LotArea="-Infinity")), 422, "envelope", "-Infinity"
    ),
    Hostile(
        "float-1e308",
        batch(GOOD, house(TotalBsmtSF="1e308")),
        200,
        "rows",
        "",
        ((1, "TotalBsmtSF"),),
    ),
    Hostile(
        "integer-10-400",
        batch(GOOD, house(GrLivArea=str(10**400))),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile(
        "float-1e400",
        batch(GOOD, house(LotArea="1e400")),
        200,
        "rows",
        "",
        ((1, "LotArea"),),
    ),
    Hostile(
        "integer-5000-digits",
        batch(house(LotArea="9" * 5000)),
        422,
        "envelope",
        "too many digits",
    ),
    Hostile(
        "negative-area",
        batch(GOOD, house(GrLivArea="-5")),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile(
        "zero-living-area",
        batch(GOOD, house(GrLivArea="0")),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile(
        "tiny-living-area",
        batch(GOOD, house(GrLivArea="5e-324")),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile(
        "zero-lot-area",
        batch(GOOD, house(LotArea="0")),
        200,
        "rows",
        "",
        ((1, "LotArea"),),
    ),
    Hostile("zero-garage-area", batch(GOOD, house(GarageArea="0")), 200, "rows"),
    Hostile(
        "boolean-number",
        batch(GOOD, house(GrLivArea="true")),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile("numeric-text", batch(GOOD, house(GrLivArea='"1804"')), 200, "rows"),
    Hostile(
        "megabyte-label",
        batch(GOOD, house(Neighborhood=json.dumps(MEGABYTE_TEXT))),
        200,
        "rows",
        "",
        ((1, "Neighborhood"),),
    ),
    Hostile(
        "megabyte-number",
        batch(GOOD, house(GrLivArea=json.dumps(MEGABYTE_TEXT))),
        200,
        "rows",
        "",
        ((1, "GrLivArea"),),
    ),
    Hostile("megabyte-key", batch(GOOD, house(**{MEGABYTE_TEXT: "1"})), 200, "rows"),
    Hostile(
        "nul-in-label",
        batch(GOOD, house(Neighborhood='"Gil\\u0000bert"')),
        200,
        "rows",
        "",
        ((1, "Neighborhood"),),
    ),
    Hostile(
        "lone-surrogate",
        batch(GOOD, house(Neighborhood='"\\ud800"')),
        200,
        "rows",
        "",
        ((1, "Neighborhood"),),
    ),
    Hostile(
        "nested-arrays",
        b'{"inputs": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}",
        422,
        "envelope",
        "nesting is too deep",
    ),
    Hostile(
        "nested-objects",
        b'{"inputs": [' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"]}",
        422,
        "envelope",
        "nesting is too deep",
    ),
    Hostile(
        "unknown-fields",
        batch(house(Id="1", Street='"Pave"', __proto__="{}", constructor="null")),
        200,
        "rows",
    ),
    Hostile(
        "duplicate-inputs-key",
        f'{{"inputs": [{GOOD}], "inputs": [{GOOD}, {GOOD}]}}'.encode(),
        422,
        "envelope",
        "'inputs' appears twice",
    ),
    Hostile(
        "duplicate-row-key",
        batch(house(GrLivArea="1804")[:-1] + ', "GrLivArea": 3000}'),
        422,
        "envelope",
        "'GrLivArea' appears twice",
    ),
    Hostile(
        "not-utf8", b'{"inputs": [{"Neighborhood": "\xff"}]}', 422, "envelope", "UTF-8"
    ),
    Hostile("truncated", b'{"inputs": [{"GrLivArea": 18', 422, "envelope", "JSON decode"),
    Hostile(
        "text-plain",
        batch(GOOD),
        415,
        "error",
        "Content-Type",
        headers={"Content-Type": "text/plain"},
    ),
    Hostile("no-content-type", batch(GOOD), 415, "error", "Content-Type", headers={}),
    Hostile(
        "form-encoded",
        b"inputs=1",
        415,
        "error",
        "Content-Type",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Hostile(
        "gzip-body",
        gzip.compress(batch(GOOD)),
        415,
        "error",
        "uncompressed",
        headers={**JSON, "Content-Encoding": "gzip"},
    ),
    Hostile(
        "brotli-body",
        b"\x8b\x02\x80",
        415,
        "error",
        "uncompressed",
        headers={**JSON, "Content-Encoding": "br"},
    ),
    Hostile("rows-10001", batch(*["{}"] * 10_001), 413, "error", "limit of 10000 rows"),
]

# Cases against a real server over raw sockets; each has its own test below.
TRANSPORT_CASES = (
    "gzip-bomb",
    "declared-over-limit",
    "chunked-over-limit",
    "stalled-body",
    "dribbled-body",
    "length-and-chunked",
    "not-http",
)


@pytest.fixture(scope="module")
def catalogue_client() -> Iterator[TestClient]:
    """The app with the default limits, started once for the payload cases."""
    settings = Settings(max_rows=10_000, max_body_bytes=DEFAULT_MAX_BODY_BYTES)
    with TestClient(create_app(settings)) as client:
        yield client


def _messages(body: dict[str, Any]) -> str:
    if isinstance(body.get("detail"), list):
        return " | ".join(issue["msg"] for issue in body["detail"])
    if "detail" in body:
        return str(body["detail"])
    return " | ".join(error["message"] for error in body["errors"])


PREDICTION_KEYS = {"predictions", "version", "errors", "imputed"}
INTERVAL_KEYS = {"intervals", "interval_coverage"}


@pytest.mark.parametrize("case", PAYLOAD_CASES, ids=[c.case_id for c in PAYLOAD_CASES])
def test_a_hostile_payload_gets_its_catalogued_answer(
    catalogue_client: TestClient, case: Hostile
) -> None:
    # When the payload is posted
    response = catalogue_client.post(PREDICT, content=case.body, headers=case.headers)
    # Then the status and the shape of the body are the catalogued ones
    assert response.status_code == case.status, response.text[:500]
    body = response.json()
    assert case.says in _messages(body)
    assert len(response.content) < 20_000  # nothing is echoed back at length
    if case.shape == "envelope":
        assert set(body) == {"detail", "request_id"}
        assert all(set(issue) == {"type", "loc", "msg"} for issue in body["detail"])
    elif case.shape == "error":
        assert set(body) == {"detail", "request_id"}
        assert isinstance(body["detail"], str)
    else:
        # the prediction body, with the interval fields the model adds (optional)
        assert PREDICTION_KEYS <= set(body) <= PREDICTION_KEYS | INTERVAL_KEYS
        errors = {(error["row"], error["field"]) for error in body["errors"]}
        assert errors == set(case.row_errors)
        erred_rows = {row for row, _ in case.row_errors}
        for index, price in enumerate(body["predictions"]):
            assert (price is None) == (index in erred_rows), f"row {index}"
    if case.case_id == "gzip-body":
        assert response.headers["accept-encoding"] == "identity"
    # And the app goes on serving
    assert catalogue_client.get(HEALTH_PATH).status_code == 200


def test_both_spellings_of_a_field_must_agree(catalogue_client: TestClient) -> None:
    # Given a row with 1stFlrSF and FirstFlrSF disagreeing (catalogue: alias-pair)
    without = {name: value for name, value in EXAMPLE_HOUSE.items() if name != "1stFlrSF"}
    rows = [EXAMPLE_HOUSE, {**without, "1stFlrSF": 1028, "FirstFlrSF": 3000}]
    # When it is priced beside a good row
    response = catalogue_client.post(PREDICT, json={"inputs": rows})
    # Then the good row is priced and the disagreeing one gets a row error on 1stFlrSF
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"][0] is not None
    assert body["predictions"][1] is None
    assert [(error["row"], error["field"]) for error in body["errors"]] == [
        (1, "1stFlrSF")
    ]
    # And the same value under both names is no conflict
    agreeing = {**without, "1stFlrSF": 1028, "FirstFlrSF": 1028}
    assert catalogue_client.post(PREDICT, json={"inputs": [agreeing]}).status_code == 200


# --- transport cases, against a real server -----------------------------------


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    server = start_server(
        [str(START_SCRIPT)],
        log,
        env={
            "MAX_BODY_BYTES": str(SERVER_MAX_BODY_BYTES),
            "BODY_TIMEOUT_SECONDS": str(SERVER_BODY_TIMEOUT),
        },
    )
    yield server
    server.stop()


@pytest.fixture
def raw_socket(hostile_server: RunningServer) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", hostile_server.port), timeout=10)
    yield sock
    sock.close()


def _head(headers: dict[str, str | int]) -> bytes:
    """A POST /api/v1/predict request line and headers, as sent on the wire."""
    lines = ["POST /api/v1/predict HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in {**JSON, **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    raw = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    is_json = headers.get("content-type") == "application/json"
    return response.status, headers, json.loads(raw) if is_json else raw


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(3)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _health_on(sock: socket.socket) -> int:
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return _read_response(sock)[0]


def _server_is_up(server: RunningServer) -> bool:
    status, _, _ = call(server.connect(timeout=10), "GET", HEALTH_PATH)
    return server.process.poll() is None and status == 200


@pytest.mark.process
def test_gzip_bomb_is_refused_unread(
    hostile_server: RunningServer, raw_socket: socket.socket
) -> None:
    # Given 10 MB of JSON compressed to about 10 kB (catalogue: gzip-bomb)
    bomb = gzip.compress(b'{"inputs": [' + b" " * 10_000_000 + b"{}]}")
    assert len(bomb) < 20_000
    # When it is posted with Content-Encoding: gzip
    started = time.perf_counter()
    raw_socket.sendall(
        _head({"Content-Length": len(bomb), "Content-Encoding": "gzip"}) + bomb
    )
    status, headers, body = _read_response(raw_socket)
    # Then it is refused at once, never inflated, and the connection is kept
    assert status == 415
    assert time.perf_counter() - started < 2
    assert "uncompressed" in body["detail"]
    assert headers.get("connection") != "close"
    assert _health_on(raw_socket) == 200


@pytest.mark.process
def test_a_declared_body_over_the_limit_is_413_and_the_connection_kept(
    raw_socket: socket.socket,
) -> None:
    padding = b" " * (SERVER_MAX_BODY_BYTES + 1)

    raw_socket.sendall(_head({"Content-Length": len(padding)}) + padding)
    status, headers, body = _read_response(raw_socket)

    assert status == 413
    assert f"limit of {SERVER_MAX_BODY_BYTES} bytes" in body["detail"]
    assert headers.get("connection") != "close"
    assert _health_on(raw_socket) == 200


@pytest.mark.process
def test_a_chunked_body_over_the_limit_is_413_and_the_connection_kept(
    raw_socket: socket.socket,
) -> None:
    # Given a chunked body (no length declared) that grows past the limit
    chunk = b" " * 100_000
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk)
        for _ in range(SERVER_MAX_BODY_BYTES // len(chunk) + 2)
    )
    # When it is streamed
    raw_socket.sendall(
        _head({"Transfer-Encoding": "chunked"}) + b"1\r\n{\r\n" + chunks + b"0\r\n\r\n"
    )
    status, headers, body = _read_response(raw_socket)
    # Then the bytes are counted as they come and refused past the limit
    assert status == 413
    assert f"limit of {SERVER_MAX_BODY_BYTES} bytes" in body["detail"]
    assert headers.get("connection") != "close"
    assert _health_on(raw_socket) == 200


@pytest.mark.process
def test_a_stalled_body_times_out_with_408(
    hostile_server: RunningServer, raw_socket: socket.socket
) -> None:
    # Given a request that declares 1,000 bytes and sends 10 (catalogue: stalled-body)
    started = time.perf_counter()
    raw_socket.sendall(_head({"Content-Length": 1000}) + b'{"inputs":')
    # When the client goes quiet
    status, headers, body = _read_response(raw_socket)
    elapsed = time.perf_counter() - started
    # Then BODY_TIMEOUT_SECONDS later it gets 408 and the connection is closed
    assert status == 408
    assert SERVER_BODY_TIMEOUT <= elapsed < SERVER_BODY_TIMEOUT + 2
    assert "BODY_TIMEOUT_SECONDS" in body["detail"]
    assert headers["connection"] == "close"
    assert _closed_by_server(raw_socket)
    assert _server_is_up(hostile_server)


@pytest.mark.process
def test_a_dribbled_body_times_out_although_bytes_keep_coming(
    hostile_server: RunningServer, raw_socket: socket.socket
) -> None:
    # Given a client that sends one byte every 0.2 s (catalogue: dribbled-body)
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(0.2):
            try:
                raw_socket.sendall(b" ")
            except OSError:
                return

    started = time.perf_counter()
    raw_socket.sendall(_head({"Content-Length": 1000}) + b"{")
    sender = threading.Thread(target=dribble, daemon=True)
    sender.start()
    try:
        # When the body is still incomplete at the deadline
        status, headers, _ = _read_response(raw_socket)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        sender.join()
    # Then the whole body's deadline holds, however slowly bytes arrive
    assert status == 408
    assert SERVER_BODY_TIMEOUT <= elapsed < SERVER_BODY_TIMEOUT + 2
    assert headers["connection"] == "close"
    assert _server_is_up(hostile_server)


@pytest.mark.process
def test_content_length_with_chunked_is_400_and_closed(
    hostile_server: RunningServer, raw_socket: socket.socket
) -> None:
    # Given a request framed two ways, as smuggling attempts are (catalogue:
    # length-and-chunked)
    body = batch(GOOD)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw_socket.sendall(
        _head({"Content-Length": 5, "Transfer-Encoding": "chunked"}) + chunked
    )
    # When it is answered
    status, headers, answer = _read_response(raw_socket)
    # Then the parser refuses it before the app sees it, and the connection is
    # closed, so nothing can ride on it
    assert status == 400
    assert answer == b"Invalid HTTP request received."
    assert headers["connection"] == "close"
    assert _closed_by_server(raw_socket)
    assert _server_is_up(hostile_server)


@pytest.mark.process
def test_bytes_that_are_not_http_get_400_and_the_server_stays_up(
    hostile_server: RunningServer, raw_socket: socket.socket
) -> None:
    raw_socket.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")

    status, headers, _ = _read_response(raw_socket)

    assert status == 400
    assert headers["connection"] == "close"
    assert _server_is_up(hostile_server)


# --- the catalogue in docs/security.md lists exactly these cases ---------------


def _catalogue_ids() -> list[str]:
    readme = (API_DIR.parent / "docs" / "security.md").read_text()
    section = readme.split("## Hostile input catalogue", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)


def test_the_security_catalogue_lists_every_case_once() -> None:
    tested = [case.case_id for case in PAYLOAD_CASES] + ["alias-pair", *TRANSPORT_CASES]

    documented = _catalogue_ids()

    assert sorted(documented) == sorted(tested)
    assert len(set(documented)) == len(documented)
