"""A worker killed under load is replaced, and only its own requests fail.

Two workers serve six keep-alive clients; one worker gets SIGKILL (an OOM
kill, a segfault). gunicorn's arbiter notices (SIGCHLD) and forks a
replacement. Requests on the dead worker's connections may fail,
but only with a clean connection error, and no call may hang: every call has
a timeout, and none may reach it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import START_SCRIPT, RunningServer, start_server, wait_until_logged

from regression_model import EXAMPLE_HOUSE
from scripts.local_processes import wait_for_workers, worker_pids

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}
BODY = json.dumps({"inputs": [EXAMPLE_HOUSE]}).encode()
CLIENTS = 6
CALL_TIMEOUT_S = 10.0
STARTED = "Application startup complete."
CLEAN_FAILURES = {
    "RemoteDisconnected",
    "ConnectionResetError",
    "BrokenPipeError",
    "ConnectionAbortedError",
}


@dataclass(frozen=True)
class Call:
    started: float
    seconds: float
    outcome: str  # the status code, or the exception's class name


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(
        [str(START_SCRIPT)], tmp_path / "server.log", env={"WEB_CONCURRENCY": "2"}
    )
    try:
        wait_until_logged(server.log_path, STARTED, 2, 60)
        yield server
    finally:
        server.stop()


def _client_loop(
    server: RunningServer, stop: threading.Event, calls: list[Call], limit: int = 0
) -> None:
    """Predict on one keep-alive connection until ``stop`` (or ``limit`` calls).

    A failed connection is replaced, as a client library's pool would do.
    """
    connection = server.connect(timeout=CALL_TIMEOUT_S)
    made = 0
    while not stop.is_set() and (not limit or made < limit):
        made += 1
        started = time.monotonic()
        try:
            connection.request("POST", PREDICT, body=BODY, headers=JSON)
            response = connection.getresponse()
            response.read()
            outcome = str(response.status)
        except (OSError, http.client.HTTPException) as error:
            outcome = type(error).__name__
            connection.close()
            connection = server.connect(timeout=CALL_TIMEOUT_S)
        calls.append(Call(started, time.monotonic() - started, outcome))
    connection.close()


def _run_clients(
    server: RunningServer, stop: threading.Event, limit: int = 0
) -> tuple[list[threading.Thread], list[Call]]:
    calls: list[Call] = []
    threads = [
        threading.Thread(target=_client_loop, args=(server, stop, calls, limit))
        for _ in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    return threads, calls


@pytest.mark.process
def test_a_killed_worker_is_replaced_and_only_its_requests_fail(
    server: RunningServer,
) -> None:
    supervisor = server.process.pid
    before = wait_for_workers(supervisor, 2, timeout=10)
    # Given clients predicting steadily on six connections
    stop = threading.Event()
    threads, calls = _run_clients(server, stop)
    time.sleep(1.0)
    assert calls
    assert {call.outcome for call in calls} == {"200"}
    # When one worker is killed outright
    victim = min(before)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    deadline = killed_at + 15
    after = worker_pids(supervisor)
    while (victim in after or len(after) != 2) and time.monotonic() < deadline:
        time.sleep(0.05)
        after = worker_pids(supervisor)
    replaced_in = time.monotonic() - killed_at
    wait_until_logged(server.log_path, STARTED, 3, timeout=60)
    ready_in = time.monotonic() - killed_at
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(CALL_TIMEOUT_S + 5)
    # Then the supervisor replaced it with a new worker and kept running
    assert victim not in after
    assert len(after) == 2
    assert before - {victim} < after
    assert replaced_in < 15
    assert server.process.poll() is None
    assert f"Worker (pid:{victim}) was sent SIGKILL!" in server.log_text()
    # And no call hung; the only failures are clean connection errors, at most
    # one per connection, on calls that were running when the worker died
    assert not any(thread.is_alive() for thread in threads)
    assert max(call.seconds for call in calls) < CALL_TIMEOUT_S
    failed = [call for call in calls if call.outcome != "200"]
    assert {call.outcome for call in failed} <= CLEAN_FAILURES, failed
    assert len(failed) <= CLIENTS
    assert all(call.started + call.seconds >= killed_at for call in failed)
    assert all(call.started < killed_at + ready_in for call in failed)
    # And once the new worker is up, every request succeeds on new connections
    fresh_threads, fresh_calls = _run_clients(server, threading.Event(), limit=20)
    for thread in fresh_threads:
        thread.join(CALL_TIMEOUT_S * 20)
    assert len(fresh_calls) == CLIENTS * 20
    assert {call.outcome for call in fresh_calls} == {"200"}
