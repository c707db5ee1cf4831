"""The HTTP protocol: Nagle off with any number of workers; heads capped; one write."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app.http_protocol import NoDelayHttpToolsProtocol, disable_nagle
from servers import START_SCRIPT, RunningServer, start_server
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from regression_model.processing.schema import EXAMPLE_HOUSE


class _Probe(asyncio.Protocol):
    """Records the TCP_NODELAY setting of the connection it is handed."""

    def __init__(self, nodelay: list[int], fix: bool) -> None:
        self.nodelay = nodelay
        self.fix = fix

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.fix:
            disable_nagle(transport)
        sock = transport.get_extra_info("socket")
        self.nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()


def _accepted_nodelay(fix: bool) -> int:
    """TCP_NODELAY on a connection accepted the way uvicorn's workers accept one."""

    async def scenario() -> int:
        listener = socket.socket(socket.AF_INET)  # protocol number 0, as uvicorn binds
        listener.bind(("127.0.0.1", 0))
        nodelay: list[int] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Probe(nodelay, fix), sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            while not nodelay:
                await asyncio.sleep(0.01)
            writer.close()
        return nodelay[0]

    return asyncio.run(scenario())


@pytest.mark.process
def test_asyncio_leaves_nagle_on_for_a_socket_bound_as_uvicorn_workers_bind_it() -> None:
    # The reason for NoDelayH11Protocol: without it the option stays off.
    assert _accepted_nodelay(fix=False) == 0


@pytest.mark.process
def test_the_protocol_turns_nagle_off() -> None:
    assert _accepted_nodelay(fix=True) != 0


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.process
def test_keep_alive_predictions_do_not_wait_for_delayed_acks(
    tmp_path: Path, workers: str
) -> None:
    # Given the real service with one or two workers
    server = start_server(
        [str(START_SCRIPT)], tmp_path / "server.log", env={"WEB_CONCURRENCY": workers}
    )
    try:
        connection = server.connect()
        body = json.dumps({"inputs": [EXAMPLE_HOUSE]})
        headers = {"Content-Type": "application/json"}
        elapsed = []
        # When one connection sends requests one after another
        for _ in range(15):
            started = time.perf_counter()
            connection.request("POST", "/api/v1/predict", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed.append(time.perf_counter() - started)
            assert response.status == 200
        connection.close()
    finally:
        server.stop()
    # Then a response is not held back ~40 ms waiting for the client's ACK
    assert statistics.median(elapsed) < 0.030


# --- the request head is capped as h11 capped it --------------------------------


@pytest.fixture(scope="module")
def head_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("head") / "server.log"
    server = start_server([str(START_SCRIPT)], log)
    yield server
    server.stop()


def _exchange(server: RunningServer, pieces: list[bytes]) -> bytes:
    """Send ``pieces`` on a fresh connection; all the server answers before closing.

    Stops at 3 s of silence, so an answer to a connection left open ends there.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed while we were still sending
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"<still open>"
        except ConnectionResetError:
            answer += b"<reset>"
    return answer


HEALTH_HEAD = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
REFUSED = b"\r\n\r\nInvalid HTTP request received."


@pytest.mark.parametrize(
    ("case", "pieces"),
    [
        ("one 20 kB header", [HEALTH_HEAD + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"]),
        ("3,000 small headers", [HEALTH_HEAD + b"X-A: b\r\n" * 3000 + b"\r\n"]),
        ("a 20 kB path", [b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"]),
        ("a header that never ends", [HEALTH_HEAD + b"X-Big: "] + [b"a" * 4000] * 10),
    ],
)
@pytest.mark.process
def test_a_request_head_over_16_kib_is_400_and_closed(
    head_server: RunningServer, case: str, pieces: list[bytes]
) -> None:
    answer = _exchange(head_server, pieces)

    assert answer.startswith(b"HTTP/1.1 400 "), (case, answer[:200])
    assert b"connection: close" in answer.lower()
    assert answer.endswith(REFUSED), (case, answer[-80:])


@pytest.mark.process
def test_a_head_under_the_cap_is_served_and_kept_alive(
    head_server: RunningServer,
) -> None:
    head = HEALTH_HEAD + b"X-Big: " + b"a" * 10_000 + b"\r\n\r\n"

    answer = _exchange(head_server, [head])

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"<still open>")


class _RecordingTransport(asyncio.Transport):
    """A connection's transport that keeps what is written to it, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8001), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app answering every request with 200 and ``hello``."""
    if scope["method"] == "POST":
        await receive()  # reads the body (and triggers 100 Continue when expected)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"5"), (b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def _writes_for(request: bytes) -> list[bytes]:
    """What ``NoDelayHttpToolsProtocol`` writes, write by write, to answer ``request``."""

    async def scenario() -> list[bytes]:
        config = Config(app=_hello, lifespan="off", log_level="warning")
        config.load()
        protocol = NoDelayHttpToolsProtocol(
            config, ServerState(), {}, asyncio.get_running_loop()
        )
        transport = _RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(request)
        for _ in range(200):
            await asyncio.sleep(0.005)
            if b"".join(transport.writes).endswith(b"hello"):
                break
        protocol.connection_lost(None)
        return transport.writes

    return asyncio.run(scenario())


def test_a_response_head_is_written_with_its_body_in_one_write() -> None:
    writes = _writes_for(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")

    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\nhello")


def test_100_continue_still_goes_out_at_once_and_alone() -> None:
    writes = _writes_for(
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\n{}"
    )

    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2
    assert writes[1].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[1].endswith(b"hello")


def test_a_head_without_a_body_write_is_not_held_back() -> None:
    # uvicorn writes no body for HEAD: the held head goes out on the loop's next turn
    writes = _writes_for(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n")

    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n")
