"""Real servers for the tests: start on a free loopback port, wait until healthy, stop.

Each server runs in its own process group, so stopping it stops everything
it started (honcho's children, uvicorn's workers) and nothing else.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = API_DIR.parent
START_SCRIPT = API_DIR / "bin" / "start"
HEALTH_PATH = "/api/v1/health"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool_path() -> str:
    """PATH with this interpreter's scripts (uvicorn, honcho) first."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass
class RunningServer:
    """A server process we started, its port and its log file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(self, timeout: float = 60) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the server's process group; SIGKILL it if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


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
    full_env = {**os.environ, "PATH": tool_path(), **(env or {})}
    full_env.update(HOST="127.0.0.1", PORT=str(port))
    for name in unset:
        full_env.pop(name, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(process=process, port=port, log_path=log_path)
    try:
        wait_until_healthy(server, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_until_healthy(server: RunningServer, timeout: float) -> None:
    """Poll the health endpoint until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_text()[-4000:]}")
        try:
            status, _, _ = call(server.connect(timeout=5), "GET", HEALTH_PATH)
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.2)
    raise TimeoutError(f"server not healthy in {timeout} s:\n{server.log_text()[-4000:]}")


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


def model_imported_from(server: RunningServer) -> Path:
    """The folder the server's start-up log says ``regression_model`` came from."""
    log = server.log_text()
    match = re.search(r"model package regression_model \S+ imported from (\S+)", log)
    if match is None:
        raise AssertionError(f"no model import line in the server log:\n{log[-3000:]}")
    return Path(match.group(1)).resolve()
