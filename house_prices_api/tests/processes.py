"""The processes of a running server, read from /proc (Linux), with no extra packages.

With ``WEB_CONCURRENCY`` above 1, uvicorn is a supervisor whose children,
started with multiprocessing's ``spawn``, are the workers that serve requests.
"""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def children(pid: int) -> set[int]:
    """The pids whose parent is ``pid``."""
    found = set()
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def worker_pids(supervisor: int) -> set[int]:
    """The uvicorn workers under ``supervisor``: its spawned children."""
    workers = set()
    for pid in children(supervisor):
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.add(pid)
    return workers


def wait_for_workers(supervisor: int, count: int, timeout: float) -> set[int]:
    """The worker pids, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = worker_pids(supervisor)
        if len(workers) == count:
            return workers
        time.sleep(0.05)
    raise TimeoutError(
        f"supervisor {supervisor} has workers {worker_pids(supervisor)}, "
        f"not {count}, after {timeout} s"
    )


def wait_until_logged(log_path: Path, text: str, count: int, timeout: float) -> None:
    """Wait until ``text`` appears ``count`` times in the server's log.

    Health answers 200 as soon as one worker is up; "Application startup
    complete." once per worker says they all are.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not logged {count} times in {timeout} s")
