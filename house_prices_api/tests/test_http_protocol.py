"""The HTTP protocol: Nagle off with any number of workers."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from pathlib import Path

import pytest
from app.http_protocol import disable_nagle
from servers import START_SCRIPT, start_server

from regression_model import EXAMPLE_HOUSE


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
    """TCP_NODELAY on a connection accepted from a socket with protocol number 0."""

    async def scenario() -> int:
        listener = socket.socket(socket.AF_INET)  # protocol number 0
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
def test_asyncio_leaves_nagle_on_for_a_socket_bound_without_a_protocol_number() -> None:
    # The reason for NoDelayHttpToolsProtocol: without it the option stays off.
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
