"""Memory of one service worker, stage by stage, from a bare Python to the whole service.

    apt-get install -y wrk      # the load client (Debian, Ubuntu)
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/worker_memory.py

Each stage is a fresh process: a bare Python; Python with FastAPI, uvicorn
and uvicorn-worker imported; the bare FastAPI app of ``bare_fastapi.py``
served by gunicorn with the service's worker class
(``app.workers.ServiceWorker``); that app with numpy and onnxruntime
imported; that app with the served model loaded (``worker_memory_apps.py``);
then the service itself through ``house_prices_api/bin/start`` with metrics
and the prediction log off, with the log off, and as deployed (everything
on, where the arbiter also runs the log's writer and its supervisor, one
process each per instance, whose RSS is printed under it). The first four hold nothing of
ours: they are the floor.

Printed per stage, once it is idle: the worker's RSS, PSS and USS (from
``/proc/PID/smaps_rollup``) and the arbiter's RSS. Then, for the served
stages, wrk sends 1-row and then 100-row requests on 8 connections
(``--seconds`` each), and the worker's RSS, PSS and USS are read again with
its peak RSS (VmHWM), the figure issue 12 bounds. RSS counts every page the
worker maps, those it shares with the arbiter (inherited at the fork) and
with other processes (shared libraries) included; PSS splits each shared
page among the processes that map it; USS counts only the worker's own.
PSS and USS therefore shrink while other processes on the machine map the
same libraries (another Python with onnxruntime): compare them within one
run. The servers run from bytecode compiled by one unmeasured start, as an
installed service does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from http_latency import BENCHMARKS, HEALTH_PATH, PREDICT_PATH, REPO_ROOT
from wrk_load import finish_wrk, require_wrk, start_wrk

from regression_model import EXAMPLE_HOUSE
from scripts.local_processes import (
    LOOPBACK,
    PROC,
    RunningServer,
    free_port,
    module_pid,
    peak_rss_kib,
    start_server,
    tool_path,
    wait_for_serving,
)

SERVICE = REPO_ROOT / "house_prices_api"
LOAD_ROWS = (1, 100)
CONNECTIONS = 8
KIB_PER_MIB = 1024
READY = "ready"
# A Python that imports what it is given, says so, and waits for its stdin to close.
IMPORT_AND_WAIT = (
    "import sys{imports}; print('" + READY + "', flush=True); sys.stdin.read()"
)


@dataclass(frozen=True)
class Memory:
    """A process's resident memory, in KiB: all of it, its share, its own."""

    rss: int
    pss: int
    uss: int

    def cells(self) -> str:
        return " ".join(
            f"{value / KIB_PER_MIB:>6.1f}" for value in (self.rss, self.pss, self.uss)
        )


@dataclass(frozen=True)
class StageFigures:
    """One stage: idle memory, and (served stages) memory after load and its peak."""

    name: str
    idle: Memory
    arbiter_rss_kib: int | None = None
    loaded: Memory | None = None
    peak_rss_kib: int | None = None
    # The instance's other processes: name, RSS and peak RSS (KiB).
    helpers: tuple[tuple[str, int, int], ...] = ()

    def line(self) -> str:
        arbiter = (
            f"{self.arbiter_rss_kib / KIB_PER_MIB:>7.1f}"
            if self.arbiter_rss_kib
            else f"{'-':>7}"
        )
        loaded = self.loaded.cells() if self.loaded else f"{'-':>6} {'-':>6} {'-':>6}"
        peak = (
            f"{self.peak_rss_kib / KIB_PER_MIB:>6.1f}"
            if self.peak_rss_kib
            else f"{'-':>6}"
        )
        line = f"{self.name:<34} {arbiter} {self.idle.cells()}   {loaded} {peak}"
        for helper, rss_kib, helper_peak_kib in self.helpers:
            line += (
                f"\n{'  + ' + helper:<34} {'-':>7} "
                f"{rss_kib / KIB_PER_MIB:>6.1f} {'-':>6} {'-':>6}   "
                f"{'-':>6} {'-':>6} {'-':>6} {helper_peak_kib / KIB_PER_MIB:>6.1f}"
            )
        return line


HEADER = (
    f"{'stage':<34} {'arbiter':>7} {'RSS':>6} {'PSS':>6} {'USS':>6}   "
    f"{'RSS':>6} {'PSS':>6} {'USS':>6} {'peak':>6}\n"
    f"{'':<34} {'RSS':>7} {'idle (MiB)':^20}   {'after load (MiB)':^27}"
)


def memory_of(pid: int) -> Memory:
    """RSS, PSS and USS of ``pid`` from ``/proc/PID/smaps_rollup``."""
    fields: dict[str, int] = {}
    for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    own = fields["Private_Clean"] + fields["Private_Dirty"]
    return Memory(rss=fields["Rss"], pss=fields["Pss"], uss=own)


def base_env(source: Path, bytecode_cache: str) -> dict[str, str]:
    """This environment, the model package from ``source``, a private bytecode cache."""
    env = dict(os.environ)
    env.pop("API_KEYS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PATH=tool_path(),
        PYTHONPATH=str(source.resolve()),
        PYTHONPYCACHEPREFIX=bytecode_cache,
    )
    return env


def python_stage(
    name: str, imports: tuple[str, ...], env: Mapping[str, str]
) -> StageFigures:
    """A Python process that imported ``imports``: its idle memory."""
    listed = "".join(f", {module}" for module in imports)
    process = subprocess.Popen(
        [sys.executable, "-c", IMPORT_AND_WAIT.format(imports=listed)],
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        if process.stdout.readline().strip() != READY:
            raise RuntimeError(f"{name}: the Python process did not start")
        return StageFigures(name, memory_of(process.pid))
    finally:
        process.stdin.close()
        process.wait(10)


@contextmanager
def serve_stage_app(
    stage: str, env: Mapping[str, str], scratch: Path
) -> Iterator[RunningServer]:
    """``worker_memory_apps`` at ``stage``, one worker of the service's class, no hooks.

    It runs from ``scratch``, so gunicorn finds no ``gunicorn.conf.py`` there.
    """
    port = free_port()
    stage_env = dict(env)
    stage_env.update(
        WORKER_MEMORY_STAGE=stage,
        PYTHONPATH=os.pathsep.join((str(BENCHMARKS), str(SERVICE), env["PYTHONPATH"])),
    )
    command = [
        "gunicorn", "worker_memory_apps:create_app()",
        "--worker-class", "app.workers.ServiceWorker", "--workers", "1",
        "--bind", f"{LOOPBACK}:{port}", "--no-control-socket",
    ]  # fmt: skip
    with start_server(
        command,
        scratch / f"stage-{stage}-{port}.log",
        port=port,
        env=stage_env,
        health_path=HEALTH_PATH,
        cwd=scratch,
    ) as server:
        yield server


@contextmanager
def serve_service(
    settings: Mapping[str, str], env: Mapping[str, str], scratch: Path
) -> Iterator[RunningServer]:
    """The service through ``bin/start``, one worker, ``settings`` on top of ``env``."""
    port = free_port()
    service_env = dict(env)
    service_env.update(
        HOST=LOOPBACK,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        SCORER_BACKEND="onnx",
        PREDICTION_LOG_DIR=str(scratch / f"log-{port}"),
        **settings,
    )
    with start_server(
        [str(SERVICE / "bin" / "start")],
        scratch / f"service-{port}.log",
        port=port,
        env=service_env,
        health_path=HEALTH_PATH,
    ) as server:
        yield server


def served_figures(
    name: str, server: RunningServer, bodies: Mapping[int, Path], seconds: int
) -> StageFigures:
    """Idle memory of ``server``'s one worker, then after wrk's load, and its peak."""
    [worker] = wait_for_serving(server.process.pid, 1, timeout=60)
    idle = memory_of(worker)
    arbiter = memory_of(server.process.pid).rss if worker != server.process.pid else None
    for rows in LOAD_ROWS:
        load = finish_wrk(
            start_wrk(
                f"{server.base_url}{PREDICT_PATH}",
                bodies[rows],
                connections=CONNECTIONS,
                threads=CONNECTIONS,
                seconds=seconds,
            )
        )
        if load.failed:
            raise RuntimeError(
                f"{name}: {load.failed} of {load.requests} requests failed"
            )
    helpers = tuple(
        (helper, memory_of(pid).rss, peak_rss_kib(pid))
        for helper, module in HELPER_PROCESSES
        if (pid := module_pid(server.process.pid, module)) is not None
    )
    return StageFigures(
        name, idle, arbiter, memory_of(worker), peak_rss_kib(worker), helpers
    )


# The processes beside the workers, one per instance, while metrics or the log are on.
HELPER_PROCESSES = (
    ("its log writer's supervisor", "app.log_supervisor"),
    ("its log writer process", "app.log_sidecar"),
)
SERVICE_STAGES: tuple[tuple[str, dict[str, str]], ...] = (
    ("service, metrics and log off", {"METRICS": "false", "PREDICTION_LOG": "off"}),
    ("service, log off", {"METRICS": "true", "PREDICTION_LOG": "off"}),
    ("service, everything on", {"METRICS": "true", "PREDICTION_LOG": "all"}),
)
STAGE_APPS = (
    ("bare app, ServiceWorker", "bare"),
    ("+ numpy, onnxruntime imported", "imports"),
    ("+ served model (load_served_model)", "model"),
)


def request_bodies(folder: Path) -> dict[int, Path]:
    """Files holding the request bodies, by rows: the package's example house repeated."""
    bodies = {}
    for rows in LOAD_ROWS:
        path = folder / f"body-{rows}.json"
        path.write_text(json.dumps({"inputs": [EXAMPLE_HOUSE] * rows}))
        bodies[rows] = path
    return bodies


def bytecode_primed(env: Mapping[str, str], scratch: Path) -> None:
    """Start the service and the fullest stage app once, unmeasured: their bytecode."""
    with serve_service({}, env, scratch):
        pass
    with serve_stage_app("model", env, scratch):
        pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=int, default=4, help="wrk per row count (whole s)"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT,
        help="the folder holding the regression_model package to serve",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    loads = ", ".join(f"{load:.2f}" for load in os.getloadavg())
    arenas = os.environ.get("MALLOC_ARENA_MAX", "unset")
    print(f"load average {loads}; {os.cpu_count()} cores; MALLOC_ARENA_MAX {arenas}")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="worker-memory-") as folder:
        scratch = Path(folder)
        env = base_env(args.source, str(scratch / "bytecode"))
        bodies = request_bodies(scratch)
        bytecode_primed(env, scratch)
        for name, imports in (
            ("python", ()),
            ("+ fastapi, uvicorn imported", ("fastapi", "uvicorn", "uvicorn_worker")),
        ):
            print(python_stage(name, imports, env).line(), flush=True)
        for name, stage in STAGE_APPS:
            with serve_stage_app(stage, env, scratch) as server:
                print(
                    served_figures(name, server, bodies, args.seconds).line(), flush=True
                )
        for name, settings in SERVICE_STAGES:
            with serve_service(settings, env, scratch) as server:
                print(
                    served_figures(name, server, bodies, args.seconds).line(), flush=True
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
