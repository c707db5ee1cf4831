"""HTTP load from wrk: one JSON body POSTed on keep-alive connections, back to back.

wrk is a C load generator with one event loop per thread; it spends a small
fraction of the server's CPU per request, so on a machine whose cores the
client shares with the server the figures are the server's, not the
client's. Install it from the distribution: ``apt-get install -y wrk``
(Debian, Ubuntu). The request is built by ``wrk_post.lua``, which also
prints wrk's own latency percentiles as JSON when the run ends.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().with_name("wrk_post.lua")
INSTALL_HINT = "wrk is not installed: apt-get install -y wrk (Debian, Ubuntu)"


@dataclass(frozen=True)
class Load:
    """What one wrk run reports."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # connection errors, timeouts and answers other than 2xx or 3xx

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def require_wrk() -> str:
    """The path of ``wrk``; raises with the install command when there is none."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def start_wrk(
    url: str, body: Path, *, connections: int, seconds: int, threads: int
) -> subprocess.Popen[str]:
    """wrk POSTing the contents of ``body`` to ``url`` for ``seconds`` (whole seconds)."""
    command = [
        require_wrk(),
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={WRK_SCRIPT}",
        url,
        "--",
        str(body),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def finish_wrk(process: subprocess.Popen[str]) -> Load:
    """Wait for wrk and read its figures; raises if it failed."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited {process.returncode}:\n{output}")
    figures = json.loads(output.strip().splitlines()[-1])
    failed = sum(
        figures[name]
        for name in (
            "connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"
        )
    )  # fmt: skip
    return Load(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        failed=failed,
    )


def children_cpu_seconds() -> float:
    """User + system CPU of this process's finished and reaped children (wrk's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
