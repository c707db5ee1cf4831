"""Real servers for the tests: start on a free loopback port, wait until healthy, stop.

Each server runs in its own process group, so stopping it stops everything
it started (honcho's children, the service's workers) and nothing else. The
process work is ``scripts.local_processes``'s, shared with the benchmarks;
this module adds the tests' defaults and their HTTP and log helpers.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scripts import local_processes
from scripts.local_processes import RunningServer, free_port, tool_path

__all__ = [
    "API_DIR",
    "HEALTH_PATH",
    "REPO_ROOT",
    "START_SCRIPT",
    "RunningServer",
    "api_price",
    "call",
    "free_port",
    "model_imported_from",
    "run_probe",
    "start_server",
    "tool_path",
    "wait_until_logged",
]

API_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = API_DIR.parent
START_SCRIPT = API_DIR / "bin" / "start"
HEALTH_PATH = "/api/v1/health"


def environment(
    env: Mapping[str, str], unset: Iterable[str], **fixed: str
) -> dict[str, str]:
    """This process's environment, plus ``env`` and then ``fixed``, minus ``unset``."""
    full_env = {**os.environ, **env, **fixed}
    for name in unset:
        full_env.pop(name, None)
    return full_env


def start_server(
    command: list[str],
    log_path: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
    cwd: Path = REPO_ROOT,
    ready_timeout: float = 120,
) -> RunningServer:
    """Run ``command`` with HOST=127.0.0.1 and PORT set; return once health is 200.

    The environment is this process's, plus ``env``, minus the names in ``unset``.
    """
    port = port or free_port()
    full_env = environment(
        {"PATH": tool_path(), **(env or {})},
        unset,
        HOST=local_processes.LOOPBACK,
        PORT=str(port),
    )
    return local_processes.start_server(
        command,
        log_path,
        port=port,
        env=full_env,
        health_path=HEALTH_PATH,
        cwd=cwd,
        ready_timeout=ready_timeout,
        poll_s=0.2,
    )


def wait_until_logged(log_path: Path, text: str, count: int, timeout: float) -> None:
    """Wait until ``text`` appears ``count`` times in the server's log.

    Health answers 200 as soon as one worker is up; "Application startup
    complete." once per worker says they all are.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not logged {count} times in {timeout} s")


def call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, Any]:
    """One request on ``connection`` (kept open); returns status, headers, parsed JSON.

    ``body`` may be bytes (sent as is) or anything JSON-serialisable.
    """
    headers = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return response.status, response.headers, parsed


def api_price(server: RunningServer, row: dict[str, Any]) -> float:
    """The price ``POST /api/v1/predict`` gives ``row``; fails on any other answer."""
    connection = server.connect()
    try:
        status, _, body = call(connection, "POST", "/api/v1/predict", {"inputs": [row]})
    finally:
        connection.close()
    assert status == 200, body
    return float(body["predictions"][0])


def model_imported_from(server: RunningServer) -> Path:
    """The folder the server's start-up log says ``regression_model`` came from."""
    log = server.log_text()
    match = re.search(r"model package regression_model \S+ imported from (\S+)", log)
    if match is None:
        raise AssertionError(f"no model import line in the server log:\n{log[-3000:]}")
    return Path(match.group(1)).resolve()


def run_probe(
    code: str,
    env: Mapping[str, str] | None = None,
    *,
    unset: Iterable[str] = (),
    cwd: Path | None = None,
) -> Any:
    """Run ``code`` in a fresh interpreter that imports the service and the model
    from this checkout; the JSON it prints on its last line.

    The environment is this process's, plus ``env``, minus the names in ``unset``.
    """
    full_env = environment(
        env or {}, unset, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(API_DIR)])
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        check=True,
        timeout=120,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])
