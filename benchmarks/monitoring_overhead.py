"""What metrics and the prediction log cost: 1-row throughput and p99, off against on.

    apt-get install -y wrk postgresql      # the load client; the PostgreSQL server
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/monitoring_overhead.py

Builds of the same checkout, started through ``bin/start`` with one
worker (``--workers``): ``off`` (``METRICS=false``, ``PREDICTION_LOG=off``),
``metrics`` (metrics on, the log off: what the log adds is the difference
to the next two), ``sqlite`` (metrics and every row logged to SQLite in a
temp folder) and ``postgres`` (the same, logged to a throwaway PostgreSQL
cluster on a loopback port; left out when PostgreSQL is not installed).
They run in turn, ``--rounds`` times, so a change in the machine's load
hits them all alike; each run warms up, then wrk sends the package's example house as
1-row requests on 8 keep-alive connections. Printed: every run, then per
build the median throughput and p99 and their ratios to ``off``, and the
median over rounds of each round's own ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from http_latency import HEALTH_PATH, PREDICT_PATH, REPO_ROOT, service_env
from wrk_load import Load, finish_wrk, require_wrk, start_wrk

from regression_model import EXAMPLE_HOUSE
from scripts.local_postgres import PostgresServer, create_cluster, postgres_bin
from scripts.local_processes import RunningServer, free_port, start_server

CONNECTIONS = 8
OFF = "off"
METRICS_ONLY = "metrics"


def build_settings(
    build: str, folder: Path, postgres: PostgresServer | None
) -> dict[str, str]:
    """The monitoring settings of ``build``."""
    if build == OFF:
        return {"METRICS": "false", "PREDICTION_LOG": "off"}
    if build == METRICS_ONLY:
        return {"METRICS": "true", "PREDICTION_LOG": "off"}
    settings = {"METRICS": "true", "PREDICTION_LOG": "all"}
    if build == "postgres":
        assert postgres is not None
        return {**settings, "DATABASE_URL": postgres.url}
    return {**settings, "PREDICTION_LOG_DIR": str(folder / "log")}


@contextmanager
def serve(
    build: str, workers: int, folder: Path, postgres: PostgresServer | None
) -> Iterator[RunningServer]:
    """The checkout's service with ``build``'s settings, on a free port."""
    port = free_port()
    env = service_env(REPO_ROOT, workers, port, str(folder / "bytecode"))
    env.pop("DATABASE_URL", None)
    env.update(build_settings(build, folder, postgres))
    with start_server(
        [str(REPO_ROOT / "house_prices_api" / "bin" / "start")],
        folder / f"{build}-{port}.log",
        port=port,
        env=env,
        health_path=HEALTH_PATH,
    ) as server:
        yield server


def load_once(server: RunningServer, body: Path, warmup: int, seconds: int) -> Load:
    """Warm up, then one measured wrk run of 1-row requests on 8 connections."""
    url = f"{server.base_url}{PREDICT_PATH}"
    options = {"connections": CONNECTIONS, "threads": CONNECTIONS}
    finish_wrk(start_wrk(url, body, seconds=warmup, **options))
    load = finish_wrk(start_wrk(url, body, seconds=seconds, **options))
    if load.failed:
        raise RuntimeError(f"{load.failed} of {load.requests} requests failed")
    return load


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each build")
    parser.add_argument(
        "--seconds", type=int, default=10, help="measured seconds per run"
    )
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=1, help="WEB_CONCURRENCY")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    pg_bin = postgres_bin()
    builds = [OFF, METRICS_ONLY, "sqlite"] + (["postgres"] if pg_bin else [])
    if pg_bin is None:
        print(
            "PostgreSQL is not installed: the postgres build is left out", file=sys.stderr
        )
    runs: dict[str, list[Load]] = {build: [] for build in builds}
    with tempfile.TemporaryDirectory(prefix="monitoring-overhead-") as temp:
        folder = Path(temp)
        body = folder / "body.json"
        body.write_text(json.dumps({"inputs": [EXAMPLE_HOUSE]}))
        postgres = create_cluster(pg_bin) if pg_bin else None
        try:
            if postgres is not None:
                postgres.start()
            print(f"{'build':>8} {'round':>5} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
            for round_number in range(1, args.rounds + 1):
                for build in builds:
                    with serve(build, args.workers, folder, postgres) as server:
                        load = load_once(server, body, args.warmup, args.seconds)
                    runs[build].append(load)
                    print(
                        f"{build:>8} {round_number:>5} {load.per_second:9.1f} "
                        f"{load.p50_ms:7.2f} {load.p99_ms:7.2f}",
                        flush=True,
                    )
        finally:
            if postgres is not None:
                postgres.remove()
    print_ratios(runs)
    return 0


def print_ratios(runs: dict[str, list[Load]]) -> None:
    """Per build: median throughput and p99 and their ratios to the build with all
    off; then the median of each round's own ratios (the builds of a round run
    within a minute of each other, so a slow spell of the machine cancels out)."""
    base_rate = statistics.median(load.per_second for load in runs[OFF])
    base_p99 = statistics.median(load.p99_ms for load in runs[OFF])
    print("\nmedians; ratios to 'off' (throughput >= 0.90 and p99 <= 1.20 is the goal):")
    for build, loads in runs.items():
        rate = statistics.median(load.per_second for load in loads)
        p99 = statistics.median(load.p99_ms for load in loads)
        rate_paired = statistics.median(
            load.per_second / off.per_second
            for load, off in zip(loads, runs[OFF], strict=True)
        )
        p99_paired = statistics.median(
            load.p99_ms / off.p99_ms for load, off in zip(loads, runs[OFF], strict=True)
        )
        print(
            f"  {build:>8}: {rate:9.1f} req/s ({rate / base_rate:4.2f}), "
            f"p99 {p99:6.2f} ms ({p99 / base_p99:4.2f}); "
            f"per round: {rate_paired:4.2f}, p99 {p99_paired:4.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
