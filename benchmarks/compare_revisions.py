"""The service at another commit against this checkout, over HTTP, in alternation.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/compare_revisions.py --base REV

This machine's speed drifts by tens of percent within an hour, so a change
is judged by running the old and the new service one after the other,
several rounds, in one run, and reading the ratios. ``REV`` is checked out
into a temporary git worktree and its model trained there (each side serves
its own model, from its own sources); then each round starts each side with
its ``house_prices_api/bin/start`` (ONNX scorer) for each worker count and
sends 1-row requests on ``--connections`` keep-alive connections (spread
over the workers as ``http_latency.py`` spreads them). Per side and round it
prints requests per second, p50 latency, and the CPU time per request of
the server's workers (user + system, from ``/proc``) and of the client:
CPU per request moves far less with the machine's load than throughput.
The worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import http_latency as http

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def one_side(
    tree: Path,
    workers: int,
    row: dict[str, Any] | None,
    *,
    cache: str,
    args: argparse.Namespace,
    log: IO[bytes],
) -> tuple[str, dict[str, Any]]:
    """Serve ``tree`` and load it; the figures as a line, and the row it used."""
    http.START_SCRIPT = tree / "house_prices_api" / "bin" / "start"
    os.environ["PYTHONPATH"] = str(tree)
    with http.running_service("onnx", workers, log, cache) as server:
        pids = http.serving_pids(server.process.pid, workers)
        row = row or http.example_row(server.port)
        result, spread = http.measure(
            server, pids, row, rows=1, connections=args.connections, args=args
        )
    line = (
        f"{result.per_second:9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"server {result.server_cpu_s / result.requests * 1e6:5.0f} us/req  "
        f"client {result.client_cpu_s / result.requests * 1e6:4.0f} us/req  "
        f"per worker {'+'.join(map(str, spread))}"
    )
    return line, row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--balance-tries", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"start: {http.load_average()}; base {args.base} against this checkout")
    row: dict[str, Any] | None = None
    with (
        worktree(args.base) as base,
        tempfile.TemporaryFile() as log,
        http.compiled_bytecode() as cache,
    ):
        sides = {"base": base, "this": REPO_ROOT}
        for round_number in range(args.rounds):
            for workers in args.workers:
                for name, tree in sides.items():
                    line, row = one_side(
                        tree, workers, row, cache=cache, args=args, log=log
                    )
                    print(
                        f"round {round_number} workers {workers} {name:>4}: {line}",
                        flush=True,
                    )
    print(f"end: {http.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
