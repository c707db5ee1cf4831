"""HTTP latency and throughput of the real service (bin/start -> uvicorn) on loopback.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/http_latency.py

Starts the service on a free 127.0.0.1 port, then for 1-row and 100-row
requests at 1 and 8 concurrent keep-alive connections (one thread and one
``http.client`` connection each) sends requests for a bounded time and
count, and prints p50/p99 latency and requests per second. The rows are the
example request from the service's own OpenAPI document, as a client would
find it. Client and server share this machine's cores, so the figures are a
floor for a dedicated server, not a ceiling. The server is always stopped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO_ROOT / "house_prices_api" / "bin" / "start"


@dataclass(frozen=True)
class Result:
    rows: int
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(port: int, log: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(REPO_ROOT))
    env.update(HOST="127.0.0.1", PORT=str(port), MAX_ROWS="10000")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.Popen(
        [str(START_SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def wait_until_healthy(
    port: int, server: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the service exited during start-up")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the service did not become healthy")


def example_row(port: int) -> dict[str, Any]:
    """The documented example house, read from the service's OpenAPI document."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/openapi.json")
    spec = json.loads(connection.getresponse().read())
    body = spec["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]
    row: dict[str, Any] = body["application/json"]["examples"]["one house"]["value"][
        "inputs"
    ][0]
    return row


def run_load(
    port: int, body: bytes, connections: int, duration: float, max_requests: int
) -> tuple[list[float], float]:
    """Send ``body`` from ``connections`` threads until time or count runs out."""
    latencies: list[float] = []
    lock = threading.Lock()
    sent = 0
    deadline = time.perf_counter() + duration
    failures: list[str] = []

    def worker() -> None:
        nonlocal sent
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if sent >= max_requests:
                        return
                    sent += 1
                started = time.perf_counter()
                connection.request("POST", "/api/v1/predict", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    failures.append(str(response.status))
                    return
                with lock:
                    latencies.append(elapsed)
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"requests failed with status {failures[0]}")
    return latencies, time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def measure(
    port: int, row: dict[str, Any], rows: int, connections: int, args: argparse.Namespace
) -> Result:
    body = json.dumps({"inputs": [row] * rows}).encode()
    run_load(port, body, connections, duration=1.0, max_requests=20)  # warm-up
    latencies, seconds = run_load(
        port, body, connections, duration=args.seconds, max_requests=args.max_requests
    )
    ordered = sorted(latencies)
    return Result(
        rows=rows,
        connections=connections,
        requests=len(ordered),
        seconds=seconds,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per scenario")
    parser.add_argument("--max-requests", type=int, default=3000, help="per scenario")
    args = parser.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_service(port, log)
        try:
            wait_until_healthy(port, server, timeout=120)
            row = example_row(port)
            print(f"{'rows':>5} {'conns':>5} {'requests':>8} {'p50 ms':>8} "
                  f"{'p99 ms':>8} {'req/s':>8} {'rows/s':>9}")  # fmt: skip
            for rows in (1, 100):
                for connections in (1, 8):
                    result = measure(port, row, rows, connections, args)
                    print(
                        f"{result.rows:>5} {result.connections:>5} {result.requests:>8} "
                        f"{result.p50_ms:>8.1f} {result.p99_ms:>8.1f} "
                        f"{result.per_second:>8.1f} {result.per_second * rows:>9.0f}"
                    )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
