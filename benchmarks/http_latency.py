"""HTTP throughput, latency, CPU and memory of the service, beside a bare FastAPI app.

    apt-get install -y wrk      # the load client (Debian, Ubuntu)
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/http_latency.py

Each server is started through ``house_prices_api/bin/start`` (whatever
process manager it uses) on a free 127.0.0.1 port, with 1 and then 2 worker
processes (``WEB_CONCURRENCY``), and the bare FastAPI app of
``bare_fastapi.py`` (one uvicorn process that only validates the rows) runs
in the same run as the yardstick. For each server, after a warm-up, wrk
sends the example house from the model package as 1-row and 100-row
requests on 8 keep-alive connections, and 1-row requests on 1 connection
(one request at a time: the sequential p50). Printed per scenario:
requests per second, wrk's p50 and p99 latency, the server's CPU time per
request (user + system of its master and workers, from /proc) and wrk's;
then the service/bare throughput ratio per scenario, and each server's
cold start (seconds to its first healthy answer) and peak resident memory
(VmHWM) per worker.

Connections opened at once tend to pile onto the worker that wakes first,
which no load balancer in front of many clients would do; so wrk runs one
thread per connection (the connections open from separate threads), a run
whose connections are spread unevenly over the workers is restarted (at
most ``--balance-tries`` times), and the spread it ran with is printed. The
servers run from bytecode compiled by one unmeasured start before the
first measured one, as an installed service does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wrk_load import Load, children_cpu_seconds, finish_wrk, require_wrk, start_wrk

from regression_model import EXAMPLE_HOUSE
from scripts.local_processes import (
    LOOPBACK,
    RunningServer,
    connections_held,
    cpu_seconds,
    free_port,
    peak_rss_kib,
    serving_pids,
    start_server,
    tool_path,
    wait_for_serving,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = Path(__file__).resolve().parent
HEALTH_PATH = "/api/v1/health"
PREDICT_PATH = "/api/v1/predict"
BARE = "bare"
SCENARIOS = ((1, 8), (100, 8), (1, 1))  # (rows per request, connections)
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class Figures:
    """One scenario on one server: wrk's figures and the CPU both sides used."""

    rows: int
    connections: int
    load: Load
    server_cpu_s: float  # the server's master and workers
    client_cpu_s: float  # wrk
    spread: tuple[int, ...]  # connections held by each worker

    def line(self) -> str:
        per_request = 1e6 / self.load.requests
        placed = "+".join(map(str, self.spread))
        return (
            f"{self.rows:>5} {self.connections:>5} {placed:>10} "
            f"{self.load.requests:>8} {self.load.per_second:>8.0f} "
            f"{self.load.p50_ms:>7.2f} {self.load.p99_ms:>7.2f} "
            f"{self.server_cpu_s * per_request:>9.0f} "
            f"{self.client_cpu_s * per_request:>9.0f}"
        )


HEADER = (
    f"{'rows':>5} {'conns':>5} {'per worker':>10} {'requests':>8} {'req/s':>8} "
    f"{'p50 ms':>7} {'p99 ms':>7} {'server us':>9} {'client us':>9}"
)


@dataclass(frozen=True)
class Served:
    """A server's start-up and memory figures."""

    name: str
    workers: int
    cold_start_s: float
    peak_rss_mib: tuple[float, ...]


def service_env(
    source: Path, workers: int, port: int, bytecode_cache: str
) -> dict[str, str]:
    """The environment of the service from ``source``: this one, its settings, no keys."""
    env = dict(os.environ)
    env.pop("API_KEYS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOST=LOOPBACK,
        PORT=str(port),
        PATH=tool_path(),
        PYTHONPATH=str(source.resolve()),  # absolute: bin/start may change folder
        PYTHONPYCACHEPREFIX=bytecode_cache,
        MAX_ROWS="10000",
        SCORER_BACKEND="onnx",
        WEB_CONCURRENCY=str(workers),
    )
    return env


def bare_command(port: int) -> list[str]:
    """The bare FastAPI app (``bare_fastapi.py``), one uvicorn process."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "bare_fastapi:create_app",
        "--app-dir", str(BENCHMARKS), "--host", LOOPBACK, "--port", str(port),
        "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


@contextmanager
def serve_source(
    source: Path, workers: int, *, logs: Path, bytecode_cache: str
) -> Iterator[RunningServer]:
    """The service from the checkout ``source`` (its own bin/start and model)."""
    port = free_port()
    with start_server(
        [str(source / "house_prices_api" / "bin" / "start")],
        logs / f"service-{port}.log",
        port=port,
        env=service_env(source, workers, port, bytecode_cache),
        health_path=HEALTH_PATH,
    ) as server:
        yield server


@contextmanager
def serve_bare(*, logs: Path, bytecode_cache: str) -> Iterator[RunningServer]:
    """The bare FastAPI app, with this checkout's model package for its row schema."""
    port = free_port()
    with start_server(
        bare_command(port),
        logs / f"bare-{port}.log",
        port=port,
        env=service_env(REPO_ROOT, 1, port, bytecode_cache),
        health_path=HEALTH_PATH,
    ) as server:
        yield server


def request_bodies(folder: Path) -> dict[int, Path]:
    """Files holding the request bodies, by rows: the package's example house repeated."""
    bodies = {}
    for rows, _ in SCENARIOS:
        path = folder / f"body-{rows}.json"
        path.write_text(json.dumps({"inputs": [EXAMPLE_HOUSE] * rows}))
        bodies[rows] = path
    return bodies


def spread_of(server: RunningServer, pids: Sequence[int]) -> tuple[int, ...]:
    """How many of the open connections each worker holds."""
    return tuple(connections_held(pid, server.port) for pid in pids)


def measure(
    server: RunningServer,
    body: Path,
    *,
    rows: int,
    connections: int,
    args: argparse.Namespace,
) -> Figures:
    """Warm up, then load ``server`` with wrk for ``args.seconds``.

    With several workers, a run whose connections landed unevenly is
    restarted, at most ``args.balance_tries`` times.
    """
    url = f"{server.base_url}{PREDICT_PATH}"
    options = {"connections": connections, "threads": connections}
    finish_wrk(start_wrk(url, body, seconds=args.warmup, **options))
    pids = sorted(serving_pids(server.process.pid))
    group = {server.process.pid, *pids}
    tries = 0
    while True:
        client_before, server_before = children_cpu_seconds(), cpu_seconds(group)
        wrk = start_wrk(url, body, seconds=args.seconds, **options)
        time.sleep(0.3)  # wrk opens every connection at once, at its start
        spread = spread_of(server, pids)
        if max(spread) - min(spread) <= 1 or tries >= args.balance_tries:
            break
        tries += 1
        wrk.kill()
        wrk.communicate()
    load = finish_wrk(wrk)
    if load.failed:
        raise RuntimeError(f"{load.failed} of {load.requests} requests failed on {url}")
    return Figures(
        rows=rows,
        connections=connections,
        load=load,
        server_cpu_s=cpu_seconds(group) - server_before,
        client_cpu_s=children_cpu_seconds() - client_before,
        spread=spread,
    )


def measure_server(
    name: str,
    workers: int,
    server: RunningServer,
    bodies: dict[int, Path],
    args: argparse.Namespace,
) -> tuple[list[Figures], Served]:
    """Every scenario on ``server``, printed as it is measured, and its memory."""
    pids = sorted(wait_for_serving(server.process.pid, workers, timeout=60))
    results = []
    for rows, connections in SCENARIOS:
        figures = measure(
            server, bodies[rows], rows=rows, connections=connections, args=args
        )
        print(f"{name:>8} {workers:>7} {figures.line()}", flush=True)
        results.append(figures)
    peak = tuple(peak_rss_kib(pid) / KIB_PER_MIB for pid in pids)
    return results, Served(name, workers, server.ready_after_s, peak)


def print_ratios(service: dict[int, list[Figures]], bare: list[Figures]) -> None:
    """The service's throughput as a fraction of the bare app's, per scenario."""
    print("\nservice/bare throughput, same run:")
    for workers, results in service.items():
        for mine, reference in zip(results, bare, strict=True):
            ratio = mine.load.per_second / reference.load.per_second
            print(
                f"  workers {workers} rows {mine.rows:>3} conns {mine.connections}: "
                f"{ratio:5.2f}"
            )


def load_average() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def bytecode_primed(source: Path, logs: Path, cache: str) -> None:
    """Start the service from ``source`` once, unmeasured, to fill the bytecode cache.

    An installed service runs from bytecode compiled at install time; where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines), a
    checkout's modules would be compiled at every start. The servers share a
    private ``PYTHONPYCACHEPREFIX``, filled here.
    """
    with serve_source(source, 1, logs=logs, bytecode_cache=cache) as server:
        connection = server.connect(timeout=30)
        body = json.dumps({"inputs": [EXAMPLE_HOUSE]})
        connection.request(
            "POST", PREDICT_PATH, body, {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = response.read()
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{source}: example house got {response.status}: {answer!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="per scenario (whole s)")
    parser.add_argument("--warmup", type=int, default=2, help="per scenario (whole s)")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--balance-tries", type=int, default=20, help="restarts to spread connections"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    print(f"start: {load_average()}; {os.cpu_count()} cores")
    print(f"{'server':>8} {'workers':>7} {HEADER}")
    service: dict[int, list[Figures]] = {}
    served = []
    with tempfile.TemporaryDirectory(prefix="http-bench-") as scratch:
        logs, cache = Path(scratch), str(Path(scratch) / "bytecode")
        bodies = request_bodies(logs)
        bytecode_primed(REPO_ROOT, logs, cache)
        for workers in args.workers:
            with serve_source(
                REPO_ROOT, workers, logs=logs, bytecode_cache=cache
            ) as server:
                service[workers], memory = measure_server(
                    "service", workers, server, bodies, args
                )
                served.append(memory)
        with serve_bare(logs=logs, bytecode_cache=cache) as server:
            bare, memory = measure_server(BARE, 1, server, bodies, args)
            served.append(memory)
    print_ratios(service, bare)
    print(
        f"\n{'server':>8} {'workers':>7} {'cold start s':>12}  peak RSS per worker (MiB)"
    )
    for memory in served:
        shown = ", ".join(f"{value:.1f}" for value in memory.peak_rss_mib)
        print(
            f"{memory.name:>8} {memory.workers:>7} {memory.cold_start_s:>12.2f}  {shown}"
        )
    print(f"end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
