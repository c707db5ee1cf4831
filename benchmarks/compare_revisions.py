"""The service at another commit against this checkout, over HTTP, in alternation.

    apt-get install -y wrk      # the load client (Debian, Ubuntu)
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/compare_revisions.py --base REV

This machine's speed drifts by tens of percent within an hour, so a change
is judged by serving the old and the new code one after the other, several
rounds, in one run, and reading the ratios. ``REV`` is checked out into a
temporary git worktree and its model trained there, so each side serves its
own model from its own sources, started by its own
``house_prices_api/bin/start`` (whatever process manager that uses). Each
round serves, for each worker count, the base and then this checkout, and
once the bare FastAPI app of ``bare_fastapi.py``; wrk loads each with 1-row
requests on ``--connections`` keep-alive connections, spread over the
workers as ``http_latency.py`` spreads them. Printed per server and round:
requests per second, p50 and p99 latency, the CPU time per request of the
server (master and workers, from /proc) and of wrk, then this/base and
this/bare throughput ratios; at the end, the median ratios over the rounds.
CPU per request moves far less with the machine's load than throughput.
The worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from http_latency import (
    BARE,
    REPO_ROOT,
    Figures,
    bytecode_primed,
    load_average,
    measure,
    request_bodies,
    serve_bare,
    serve_source,
)
from wrk_load import require_wrk

from scripts.local_processes import RunningServer, wait_for_serving

ROWS = 1


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out in a temporary worktree, with its model trained."""
    with tempfile.TemporaryDirectory(prefix="base-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", "-q",
             str(tree), revision],
            check=True,
        )  # fmt: skip
        try:
            env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
            subprocess.run(
                [sys.executable, "-m", "regression_model.train_pipeline", "--if-missing"],
                cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force",
                 str(tree)],
                check=False,
            )  # fmt: skip


def figures_line(figures: Figures) -> str:
    load, per_request = figures.load, 1e6 / figures.load.requests
    return (
        f"{load.per_second:7,.0f} req/s  p50 {load.p50_ms:6.2f} ms  "
        f"p99 {load.p99_ms:6.2f} ms  "
        f"server {figures.server_cpu_s * per_request:5.0f} us/req  "
        f"client {figures.client_cpu_s * per_request:4.0f} us/req  "
        f"per worker {'+'.join(map(str, figures.spread))}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement (s)")
    parser.add_argument("--warmup", type=int, default=2, help="per measurement (s)")
    parser.add_argument(
        "--balance-tries", type=int, default=20, help="restarts to spread connections"
    )
    return parser.parse_args(argv)


def measure_printed(
    label: str, server: RunningServer, workers: int, body: Path, args: argparse.Namespace
) -> float:
    """Load ``server`` with 1-row requests, print its figures; its requests per second."""
    wait_for_serving(server.process.pid, workers, timeout=60)
    figures = measure(server, body, rows=ROWS, connections=args.connections, args=args)
    print(f"{label}: {figures_line(figures)}", flush=True)
    return figures.load.per_second


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    print(f"start: {load_average()}; base {args.base} against this checkout")
    against_base: dict[int, list[float]] = {workers: [] for workers in args.workers}
    against_bare: dict[int, list[float]] = {workers: [] for workers in args.workers}
    with (
        worktree(args.base) as base,
        tempfile.TemporaryDirectory(prefix="compare-") as scratch,
    ):
        logs, cache = Path(scratch), str(Path(scratch) / "bytecode")
        body = request_bodies(logs)[ROWS]
        sides = {"base": base, "this": REPO_ROOT}
        for source in sides.values():
            bytecode_primed(source, logs, cache)
        for round_number in range(args.rounds):
            with serve_bare(logs=logs, bytecode_cache=cache) as server:
                bare = measure_printed(
                    f"round {round_number} workers 1 {BARE:>4}", server, 1, body, args
                )
            for workers in args.workers:
                per_second = {}
                for name, source in sides.items():
                    with serve_source(
                        source, workers, logs=logs, bytecode_cache=cache
                    ) as server:
                        per_second[name] = measure_printed(
                            f"round {round_number} workers {workers} {name:>4}",
                            server, workers, body, args,
                        )  # fmt: skip
                against_base[workers].append(per_second["this"] / per_second["base"])
                against_bare[workers].append(per_second["this"] / bare)
                print(
                    f"round {round_number} workers {workers} ratios: "
                    f"this/base {against_base[workers][-1]:.2f}  "
                    f"this/bare {against_bare[workers][-1]:.2f}",
                    flush=True,
                )
    for workers in args.workers:
        print(
            f"median of {args.rounds} rounds, workers {workers}: "
            f"this/base {statistics.median(against_base[workers]):.2f}  "
            f"this/bare {statistics.median(against_bare[workers]):.2f}"
        )
    print(f"end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
