"""HTTP latency, throughput, cold start and memory of the real service on loopback.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/http_latency.py

One run covers both scorers (``SCORER_BACKEND=onnx`` and ``pipeline``) with
1 and 2 worker processes (``WEB_CONCURRENCY``). For each of those four
servers it starts the service through ``house_prices_api/bin/start`` on a
free 127.0.0.1 port and reports:

* cold start: seconds from process start to the first 200 from
  ``/api/v1/health`` (polled every 5 ms);
* for 1-row and 100-row requests at 1 and 8 concurrent keep-alive
  connections: p50 and p99 latency and requests (and rows) per second, over
  ``--seconds`` seconds (and at most ``--max-requests`` requests) after a
  short warm-up;
* peak resident memory (``VmHWM``) of each worker process: the uvicorn
  process itself with one worker, its worker children with more.

With ``--reference`` it then measures, the same way, a bare FastAPI app
that only validates the rows (``bare_fastapi.py``, one worker, shown as
``bare``): what FastAPI and uvicorn reach on this machine in the same run,
the yardstick for the service's own figures.

The rows are the example request from the service's own OpenAPI document,
as a client would find it. The load comes from one thread driving every
connection with ``selectors`` and prebuilt request bytes, a few microseconds
of client work per request, so that the client takes as little as possible
of the two cores it shares with the server. The figures are still a floor
for a dedicated server. The servers run from bytecode compiled once before
the first start, as an installed service does (see ``compiled_bytecode``).
Every server is stopped, whatever happens; with the defaults the whole run
takes about two and a half minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO_ROOT / "house_prices_api" / "bin" / "start"
BACKENDS = ("onnx", "pipeline")
REFERENCE = "bare"
WORKERS = (1, 2)
ROWS = (1, 100)
CONNECTIONS = (1, 8)
MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class Result:
    """One scenario's figures."""

    rows: int
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float  # user + system time of the serving processes
    client_cpu_s: float  # this process's, driving the load

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Server:
    """A started service: its process, port, and seconds to the first healthy answer."""

    process: subprocess.Popen[bytes]
    port: int
    cold_start_s: float


def reference_command(port: int) -> list[str]:
    """A bare FastAPI app that only validates the rows (``bare_fastapi.py``)."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "bare_fastapi:create_app",
        "--app-dir", str(Path(__file__).resolve().parent), "--host", "127.0.0.1",
        "--port", str(port), "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/api/v1/health")
        healthy = connection.getresponse().status == 200
        connection.close()
    except OSError:
        return False
    return healthy


def service_env(
    backend: str, workers: int, port: int, bytecode_cache: str
) -> dict[str, str]:
    """The service's environment: this one, plus its settings, minus API keys."""
    env = dict(os.environ)
    # Absolute paths: with several workers bin/start runs a check from another folder.
    paths = env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(
        str(Path(path).resolve()) for path in paths if path
    ) or str(REPO_ROOT)
    env.pop("API_KEYS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        MAX_ROWS="10000",
        SCORER_BACKEND=backend,
        WEB_CONCURRENCY=str(workers),
        PYTHONPYCACHEPREFIX=bytecode_cache,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


WARM_UP = """
import multiprocessing.spawn, uvicorn.main, uvicorn.supervisors
import app.main
from app.model import load_model
for backend in ("onnx", "pipeline"):
    load_model(backend)
"""


@contextmanager
def compiled_bytecode() -> Iterator[str]:
    """A bytecode cache holding everything the service imports, compiled once.

    An installed service runs from bytecode compiled at install time. Where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines), a
    checkout's edited modules would be compiled again at every start, which
    adds to the start-up time and to the memory high-water mark; so the
    servers run with a private ``PYTHONPYCACHEPREFIX``, filled here first.
    """
    with tempfile.TemporaryDirectory(prefix="bytecode-") as cache:
        env = service_env("onnx", 1, 0, cache)
        env["PYTHONPATH"] += f"{os.pathsep}{START_SCRIPT.parent.parent}"
        subprocess.run(
            [sys.executable, "-c", WARM_UP], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield cache


@contextmanager
def running_service(
    backend: str,
    workers: int,
    log: IO[bytes],
    bytecode_cache: str,
    command: Callable[[int], list[str]] | None = None,
) -> Iterator[Server]:
    """The service on a free loopback port; stopped (its process group) on exit.

    ``command(port)`` starts another server instead (the reference app).
    """
    port = free_port()
    env = service_env(backend, workers, port, bytecode_cache)
    started = time.perf_counter()
    process = subprocess.Popen(
        command(port) if command else [str(START_SCRIPT)], env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = started + 120
        while not is_healthy(port):
            if process.poll() is not None:
                raise RuntimeError(f"the {backend} service exited during start-up")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the {backend} service did not become healthy")
            time.sleep(0.005)
        yield Server(process, port, time.perf_counter() - started)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the service's process group; SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def example_row(port: int) -> dict[str, Any]:
    """The documented example house, read from the service's OpenAPI document."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/openapi.json")
    spec = json.loads(connection.getresponse().read())
    connection.close()
    body = spec["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]
    row: dict[str, Any] = body["application/json"]["examples"]["one house"]["value"][
        "inputs"
    ][0]
    return row


def predict_request(port: int, body: bytes) -> bytes:
    """The whole HTTP/1.1 request, built once and sent as it is every time."""
    head = (
        f"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def response_end(buffer: bytes) -> int | None:
    """Where the first complete response in ``buffer`` ends, if it is complete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    start = head.find(b"content-length:")
    if start < 0:
        raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")
    line_end = head.find(b"\r\n", start)
    length = int(head[start + 15 : line_end if line_end >= 0 else len(head)])
    end = head_end + 4 + length
    return end if len(buffer) >= end else None


def open_connections(port: int, count: int, request: bytes) -> list[socket.socket]:
    """``count`` keep-alive connections, each sending ``request`` as soon as it opens.

    A worker busy with the previous connection's request is not waiting in
    ``accept``, so the next connection tends to go to another worker.
    """
    clients = []
    try:
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=60)
            clients.append(client)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.sendall(request)
        for client in clients:
            buffer = b""
            while (end := response_end(buffer)) is None:
                chunk = client.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                buffer += chunk
            if not buffer.startswith(b"HTTP/1.1 200") or end != len(buffer):
                raise RuntimeError(f"a request failed: {buffer[:300]!r}")
    except BaseException:
        for client in clients:
            client.close()
        raise
    return clients


def run_load(
    clients: list[socket.socket], request: bytes, duration: float, max_requests: int
) -> tuple[list[float], float]:
    """Send ``request`` on every connection until time or count runs out.

    Each connection sends its next request as soon as the last response is
    complete; every response must be a 200.
    """
    selector = selectors.DefaultSelector()
    sent_at: dict[socket.socket, float] = {}
    buffers: dict[socket.socket, bytes] = {}
    latencies: list[float] = []
    sent = 0
    started = time.perf_counter()
    deadline = started + duration
    for opened in clients:
        selector.register(opened, selectors.EVENT_READ)
        buffers[opened] = b""
        sent_at[opened] = time.perf_counter()
        opened.sendall(request)
        sent += 1
    try:
        while sent_at:
            for key, _ in selector.select(timeout=60):
                client = key.fileobj
                assert isinstance(client, socket.socket)
                chunk = client.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                buffer = buffers[client] + chunk
                end = response_end(buffer)
                if end is None:
                    buffers[client] = buffer
                    continue
                now = time.perf_counter()
                if not buffer.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"a request failed: {buffer[:300]!r}")
                latencies.append(now - sent_at[client])
                buffers[client] = buffer[end:]
                if now < deadline and sent < max_requests:
                    sent_at[client] = time.perf_counter()
                    client.sendall(request)
                    sent += 1
                else:
                    del sent_at[client]
    finally:
        selector.close()
    return latencies, time.perf_counter() - started


def connections_per_worker(
    port: int, clients: list[socket.socket], pids: list[int]
) -> list[int]:
    """How many of ``clients`` each worker process accepted (from /proc/net/tcp)."""
    client_ports = {client.getsockname()[1] for client in clients}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == port and remote_port in client_ports:
            inodes.add(fields[9])
    spread = []
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            held += target.startswith("socket:[") and target[8:-1] in inodes
        spread.append(held)
    return spread


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def balanced_connections(
    port: int, count: int, pids: list[int], request: bytes, args: argparse.Namespace
) -> tuple[list[socket.socket], list[int]]:
    """``count`` warmed-up connections, spread over the workers as evenly as may be.

    Each worker's event loop accepts every connection waiting when it wakes,
    so 8 connections opened at once often all land on one worker, which no
    load balancer in front of many clients would do. So connections are
    opened one at a time, and one that lands on a worker already holding its
    share is closed and opened again (at most ``--balance-tries`` times in
    all); the table shows where they landed.
    """
    share = -(-count // len(pids))
    held = [0] * len(pids)
    clients: list[socket.socket] = []
    retries = 0
    try:
        while len(clients) < count:
            client = open_connections(port, 1, request)[0]
            owner = connections_per_worker(port, [client], pids)
            worker = owner.index(1) if 1 in owner else None
            misplaced = worker is None or held[worker] >= share
            if misplaced and retries < args.balance_tries:
                retries += 1
                client.close()
                continue
            clients.append(client)
            if worker is not None:
                held[worker] += 1
        run_load(clients, request, duration=args.warmup, max_requests=10_000)
        spread = connections_per_worker(port, clients, pids)
    except BaseException:
        for client in clients:
            client.close()
        raise
    return clients, spread


def measure(
    server: Server,
    pids: list[int],
    row: dict[str, Any],
    *,
    rows: int,
    connections: int,
    args: argparse.Namespace,
) -> tuple[Result, list[int]]:
    request = predict_request(server.port, json.dumps({"inputs": [row] * rows}).encode())
    clients, spread = balanced_connections(server.port, connections, pids, request, args)
    try:
        client_start, server_start = time.process_time(), cpu_seconds(pids)
        latencies, seconds = run_load(
            clients, request, duration=args.seconds, max_requests=args.max_requests
        )
        client_cpu = time.process_time() - client_start
        server_cpu = cpu_seconds(pids) - server_start
    finally:
        for client in clients:
            client.close()
    ordered = sorted(latencies)
    result = Result(
        rows=rows,
        connections=connections,
        requests=len(ordered),
        seconds=seconds,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
    )
    return result, spread


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used, in seconds (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        pids.extend(int(child) for child in text.split())
    return pids


def worker_pids(server_pid: int, workers: int) -> list[int]:
    """The processes that serve requests: uvicorn itself, or its spawned workers."""
    if workers == 1:
        return [server_pid]
    return [
        pid
        for pid in children(server_pid)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def serving_pids(server_pid: int, workers: int, timeout: float = 60) -> list[int]:
    """The worker processes, once all ``workers`` of them have started."""
    deadline = time.monotonic() + timeout
    while len(pids := worker_pids(server_pid, workers)) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(pids)} of {workers} workers started")
        time.sleep(0.05)
    return pids


def peak_rss_mib(pid: int) -> float:
    """``VmHWM``: the most resident memory the process has held, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / MEBIBYTE
    raise RuntimeError(f"no VmHWM for process {pid}")


def load_average() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per scenario")
    parser.add_argument("--warmup", type=float, default=0.5, help="per scenario")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per scenario")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=BACKENDS)
    parser.add_argument("--workers", nargs="+", type=int, default=WORKERS)
    parser.add_argument(
        "--balance-tries", type=int, default=200, help="reopenings to spread connections"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help=f"also measure a bare FastAPI app that only validates ({REFERENCE})",
    )
    args = parser.parse_args(argv)
    print(f"start: {load_average()}; {os.cpu_count()} cores")
    print(
        f"{'backend':>8} {'workers':>7} {'rows':>5} {'conns':>5} {'per worker':>10} "
        f"{'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'rows/s':>9}"
    )
    runs: list[tuple[str, int, Callable[[int], list[str]] | None]] = [
        (backend, workers, None) for backend in args.backends for workers in args.workers
    ]
    if args.reference:
        runs.append((REFERENCE, 1, reference_command))
    servers = []
    row: dict[str, Any] | None = None
    with tempfile.TemporaryFile() as log, compiled_bytecode() as cache:
        for backend, workers, command in runs:
            with running_service(backend, workers, log, cache, command) as server:
                pids = serving_pids(server.process.pid, workers)
                # The reference app has no examples: it gets the service's row.
                row = row if command else example_row(server.port)
                assert row is not None, "the reference runs after a service"
                for rows in ROWS:
                    for connections in CONNECTIONS:
                        result, spread = measure(
                            server, pids, row, rows=rows, connections=connections,
                            args=args,
                        )  # fmt: skip
                        placed = "+".join(map(str, spread))
                        print(
                            f"{backend:>8} {workers:>7} {result.rows:>5} "
                            f"{result.connections:>5} {placed:>10} "
                            f"{result.requests:>8} "
                            f"{result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
                            f"{result.per_second:>8.0f} "
                            f"{result.per_second * rows:>9.0f}",
                            flush=True,
                        )
                rss = [peak_rss_mib(pid) for pid in pids]
                servers.append((backend, workers, server.cold_start_s, rss))
    print()
    print(
        f"{'backend':>8} {'workers':>7} {'cold start s':>12}  peak RSS per worker (MiB)"
    )
    for backend, workers, cold_start, rss in servers:
        shown = ", ".join(f"{value:.1f}" for value in rss)
        print(f"{backend:>8} {workers:>7} {cold_start:>12.2f}  {shown}")
    print(f"end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
