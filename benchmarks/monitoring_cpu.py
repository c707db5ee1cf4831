"""What metrics and the prediction log cost in CPU per request, in process (no network).

    OMP_NUM_THREADS=1 PYTHONPATH=.:house_prices_api python benchmarks/monitoring_cpu.py

Each build (``off``, ``sqlite``, ``postgres`` when Debian's PostgreSQL is
installed) runs in a fresh interpreter: the app from ``create_app``, driven
through the ASGI interface itself (lifespan, then 1-row POSTs of the
package's example house, one at a time), with access logs at WARNING so
that only monitoring differs. CPU is the whole process's over the
measured requests and a final flush of the log, split into the writer's
(its two threads, ``app.log_sidecar``: a process of its own under
``bin/start``) and the rest (the worker's share); the PostgreSQL server's
own CPU is not in it. Builds alternate, ``--rounds`` times; printed: each
run, then per build the median of each share and the worker's excess
over ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
OFF = "off"
# The threads of the in-process writer (app.log_sidecar.start_in_thread).
WRITER_THREADS = ("prediction-log", "prediction-log-insert")


def child(build: str, requests: int, database_url: str | None) -> None:
    """One build's measurement, printed as one JSON line."""
    folder = Path(tempfile.mkdtemp(prefix="monitoring-cpu-"))
    if build != OFF:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    # After the variable: prometheus_client picks its value store on import.
    from app.config import Settings
    from app.log_store import database_url as log_url
    from app.main import create_app
    from app.migrate import upgrade

    from regression_model import EXAMPLE_HOUSE

    settings: dict[str, Any] = {"log_level": "WARNING"}
    if build == OFF:
        settings.update(metrics=False, prediction_log="off")
    else:
        settings.update(
            metrics=True, prediction_log="all", prediction_log_dir=str(folder / "log")
        )
    if build == "postgres":
        settings["database_url"] = database_url
    app_settings = Settings(**settings)
    if app_settings.prediction_log:
        upgrade(log_url(app_settings))
    app = create_app(app_settings)
    body = json.dumps({"inputs": [EXAMPLE_HOUSE]}).encode()
    cpu, writer_cpu = asyncio.run(drive(app, body, requests))
    print(
        json.dumps(
            {
                "build": build,
                "cpu_ms": 1000 * cpu / requests,
                "writer_ms": 1000 * writer_cpu / requests,
            }
        )
    )


def writer_cpu_seconds() -> float:
    """CPU seconds the writer's threads have used so far (Linux /proc, clock ticks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for thread in threading.enumerate():
        if thread.name in WRITER_THREADS and thread.native_id is not None:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def drive(app: Any, body: bytes, requests: int) -> tuple[float, float]:
    """Start the app, warm it up; the CPU seconds of ``requests`` POSTs, and the
    writer's part of them."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    for _ in range(300):
        await post(app, body)
    recorder = app.state.recorder
    if recorder is not None:
        recorder.flush(60)
    before, writer_before = time.process_time(), writer_cpu_seconds()
    for _ in range(requests):
        await post(app, body)
    if recorder is not None:
        recorder.flush(60)
    spent = time.process_time() - before
    writer_spent = writer_cpu_seconds() - writer_before
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    return spent, writer_spent


async def post(app: Any, body: bytes) -> None:
    """One POST /api/v1/predict through the ASGI interface; it must be a 200."""
    delivered = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = "/api/v1/predict"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"the service answered {sent[0]['status']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each build")
    parser.add_argument("--requests", type=int, default=3000, help="per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.requests, args.database_url)
        return 0
    sys.path.insert(0, str(REPO_ROOT))
    from scripts.local_postgres import create_cluster, postgres_bin

    pg_bin = postgres_bin()
    builds = [OFF, "sqlite"] + (["postgres"] if pg_bin else [])
    runs: dict[str, list[tuple[float, float]]] = {build: [] for build in builds}
    postgres = create_cluster(pg_bin) if pg_bin else None
    try:
        if postgres is not None:
            postgres.start()
        for round_number in range(1, args.rounds + 1):
            for build in builds:
                command = [sys.executable, __file__, "--child", build]
                command += ["--requests", str(args.requests)]
                if postgres is not None:
                    command += ["--database-url", postgres.url]
                shown = subprocess.run(
                    command, capture_output=True, text=True, check=True
                )
                figures = json.loads(shown.stdout.strip().splitlines()[-1])
                cpu_ms, writer_ms = figures["cpu_ms"], figures["writer_ms"]
                runs[build].append((cpu_ms - writer_ms, writer_ms))
                print(
                    f"{build:>8} {round_number:>2} {cpu_ms:.3f} ms CPU/request "
                    f"(writer {writer_ms:.3f})",
                    flush=True,
                )
    finally:
        if postgres is not None:
            postgres.remove()
    base = statistics.median(worker for worker, _ in runs[OFF])
    print(
        "\nCPU per 1-row request (ms), medians: the worker's share, its excess "
        "over 'off', the writer's"
    )
    for build, values in runs.items():
        worker = statistics.median(value for value, _ in values)
        writer = statistics.median(value for _, value in values)
        print(f"  {build:>8}: {worker:.3f}, +{worker - base:.3f}, {writer:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
