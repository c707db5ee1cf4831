"""SIGTERM drains the requests in flight, then the server exits.

Four 10,000-row batches on the pipeline scorer keep the server busy for a few
seconds; SIGTERM reaches gunicorn's arbiter (PID 1 in Docker) while all four
are in flight. The arbiter closes its listening socket and passes SIGTERM on
to the workers, which close theirs and finish the requests they hold, so new
connections are refused while the batches finish, with one worker or several.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import START_SCRIPT, RunningServer, call, start_server, wait_until_logged

from regression_model import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}
BATCH_ROWS = 10_000
IN_FLIGHT = 4
GRACE_S = 15


@pytest.fixture(scope="module")
def batch() -> bytes:
    rows = [
        {**EXAMPLE_HOUSE, "GrLivArea": 700 + index % 2500} for index in range(BATCH_ROWS)
    ]
    return json.dumps({"inputs": rows}).encode()


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    workers: int = request.param
    server = start_server(
        [str(START_SCRIPT)],
        tmp_path / "server.log",
        env={
            "WEB_CONCURRENCY": str(workers),
            "SCORER_BACKEND": "pipeline",
            "GRACEFUL_SHUTDOWN_TIMEOUT": str(GRACE_S),
        },
    )
    try:
        wait_until_logged(server.log_path, "Application startup complete.", workers, 60)
        yield server
    finally:
        server.stop()


def _post(
    server: RunningServer, body: bytes, sent: threading.Semaphore
) -> dict[str, Any]:
    """POST ``body`` on a new connection; release ``sent`` once it is on the wire."""
    connection = server.connect(timeout=60)
    try:
        connection.request("POST", PREDICT, body=body, headers=JSON)
        sent.release()
        response = connection.getresponse()
        return {"status": response.status, "body": response.read()}
    except (OSError, http.client.HTTPException) as error:
        sent.release()
        return {"error": repr(error)}
    finally:
        connection.close()


def _probe(port: int) -> str:
    """Try a new connection and a health request on it: what happened?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
            probe.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: probe\r\n\r\n")
            answer = probe.recv(64)
    except ConnectionRefusedError:
        return "refused"
    except OSError as error:
        return type(error).__name__
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"


@pytest.mark.process
def test_sigterm_lets_in_flight_requests_finish(
    server: RunningServer, batch: bytes
) -> None:
    # Given the answer to a 10,000-row batch, and four such batches in flight
    status, _, reference = call(server.connect(), "POST", PREDICT, batch, JSON)
    assert status == 200
    workers = server.log_text().count("Application startup complete.")
    sent = threading.Semaphore(0)
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(_post(server, batch, sent)))
        for _ in range(IN_FLIGHT)
    ]
    for thread in threads:
        thread.start()
    for _ in range(IN_FLIGHT):
        assert sent.acquire(timeout=30)
    # When the server gets SIGTERM while they are in flight
    signalled = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    probes: list[tuple[float, str]] = []
    while (
        any(thread.is_alive() for thread in threads)
        and time.monotonic() - signalled < GRACE_S
    ):
        probes.append((time.monotonic() - signalled, _probe(server.port)))
        time.sleep(0.05)
    drained = time.monotonic() - signalled
    for thread in threads:
        thread.join(GRACE_S)
    exit_status = server.process.wait(GRACE_S)
    exited = time.monotonic() - signalled
    log = server.log_text()
    # Then every batch in flight got its full answer
    assert len(results) == IN_FLIGHT
    for result in results:
        assert result.get("status") == 200, result
        assert json.loads(result["body"]) == reference
    assert len(reference["predictions"]) == BATCH_ROWS
    assert None not in reference["predictions"]
    # And the server exited cleanly within the grace period, cancelling nothing
    assert exited < GRACE_S, f"drained in {drained:.1f} s, exited in {exited:.1f} s"
    assert "timeout graceful shutdown exceeded" not in log
    assert log.count("Finished server process") == workers
    assert exit_status == 0
    # And new connections were refused while the batches finished
    outcomes = [outcome for _, outcome in probes]
    assert "refused" in outcomes, probes
    first_refusal = outcomes.index("refused")
    assert set(outcomes[first_refusal:]) == {"refused"}, probes
    assert probes[first_refusal][0] < drained
