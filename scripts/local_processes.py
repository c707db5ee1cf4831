"""Local servers for tests, benchmarks and scripts: ports, process groups, /proc.

One copy of what they all need: a free loopback port, a server started in its
own process group and awaited until its health endpoint answers, the whole
group stopped, and the server's processes read from /proc (Linux): its
workers, their CPU time and memory. Standard library only, so any of our
environments can import it.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
PROC = Path("/proc")
LISTEN = "0A"  # TCP states as /proc/net/tcp writes them
ESTABLISHED = "01"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def tool_path() -> str:
    """PATH with this interpreter's scripts (uvicorn, gunicorn, honcho) first."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def answers_200(port: int, path: str, timeout: float = 2) -> bool:
    """True when ``GET path`` on the loopback ``port`` answers 200."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class RunningServer:
    """A server we started in its own process group: its port, log and start-up time."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    ready_after_s: float = 0.0  # from the process start to the first healthy answer

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(self, timeout: float = 60) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)

    def stop(self, timeout: float = 20) -> None:
        """Stop everything the server started (its process group)."""
        stop_group(self.process, timeout)

    def __enter__(self) -> RunningServer:
        """``with start_server(...) as server:`` stops the server on the way out."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_own_group(
    command: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Run ``command`` in a new session, output to ``log_path``.

    Its own process group lets ``stop_group`` reach every process it starts
    (a supervisor's or an arbiter's workers) and nothing else.
    """
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the process group of ``process``; SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def start_server(
    command: Sequence[str],
    log_path: Path,
    *,
    port: int,
    env: Mapping[str, str],
    health_path: str,
    cwd: Path | None = None,
    ready_timeout: float = 120,
    poll_s: float = 0.05,
) -> RunningServer:
    """Start ``command`` (which listens on ``port``); return once ``health_path`` is 200.

    ``env`` is the server's whole environment. A server that exits or stays
    unhealthy is stopped, and the error carries the end of its log.
    """
    started = time.perf_counter()
    process = start_in_own_group(command, log_path, env=env, cwd=cwd)
    try:
        deadline = started + ready_timeout
        while not answers_200(port, health_path):
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited early ({process.returncode}):\n"
                    f"{log_path.read_text(errors='replace')[-4000:]}"
                )
            if time.perf_counter() > deadline:
                raise TimeoutError(
                    f"server not healthy in {ready_timeout} s:\n"
                    f"{log_path.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(poll_s)
    except BaseException:
        stop_group(process)
        raise
    return RunningServer(process, port, log_path, time.perf_counter() - started)


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after ``comm`` (which may hold spaces and ')')."""
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> set[int]:
    """The pids whose parent is ``pid``."""
    found: set[int] = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """The pids below ``pid``: its children, theirs, and so on."""
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        below = set().union(*(children(parent) for parent in frontier)) - found
        found |= below
        frontier = below
    return found


def has_exited(pid: int) -> bool:
    """Whether ``pid`` has ended: gone, or a zombie its parent has not reaped yet."""
    try:
        return _stat_fields(pid)[0] == "Z"
    except OSError:
        return True


def command_line(pid: int) -> bytes:
    """``pid``'s command line, arguments NUL-separated (empty once it has exited)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def module_pid(root: int, module: str) -> int | None:
    """The process below ``root`` that runs ``python -m module``, if one does."""
    for pid in descendants(root):
        arguments = command_line(pid).split(b"\0")
        if b"-m" in arguments and module.encode() in arguments:
            return pid
    return None


def log_writer_pid(arbiter: int) -> int | None:
    """The prediction log's writer (``python -m app.log_sidecar``) below ``arbiter``."""
    return module_pid(arbiter, "app.log_sidecar")


def _tcp_sockets(state: str, port: int | None = None) -> set[str]:
    """Inodes of the TCP sockets (v4 and v6) in ``state``, on local ``port`` if given."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = PROC / "net" / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == state and port in (None, local_port):
                inodes.add(fields[9])
    return inodes


def _sockets_held(pid: int) -> set[str]:
    """Inodes of the sockets among ``pid``'s open files (empty once it has exited)."""
    held: set[str] = set()
    try:
        descriptors = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return held
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:[") : -1])
    return held


def worker_pids(master: int) -> set[int]:
    """The children of ``master`` that hold a listening socket: its serving workers.

    This finds the workers of uvicorn's supervisor (spawned) and of gunicorn's
    arbiter (forked) alike, and leaves out helpers that serve nothing, such as
    multiprocessing's resource tracker.
    """
    listening = _tcp_sockets(LISTEN)
    return {pid for pid in children(master) if _sockets_held(pid) & listening}


def serving_pids(master: int) -> set[int]:
    """The processes that answer requests: ``master``'s workers, or itself if it has none.

    Read it once the server answers: before its first worker has started, a
    master that only supervises would be taken for the server.
    """
    return worker_pids(master) or {master}


def wait_for_workers(master: int, count: int, timeout: float) -> set[int]:
    """``master``'s worker pids, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = worker_pids(master)
        if len(workers) == count:
            return workers
        time.sleep(0.05)
    raise TimeoutError(
        f"process {master} has workers {worker_pids(master)}, not {count}, "
        f"after {timeout} s"
    )


def wait_for_serving(master: int, count: int, timeout: float) -> set[int]:
    """``serving_pids(master)``, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while len(pids := serving_pids(master)) != count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(pids)} of {count} serving processes after {timeout} s"
            )
        time.sleep(0.05)
    return pids


def connections_held(pid: int, port: int) -> int:
    """How many established connections to local ``port`` process ``pid`` holds."""
    return len(_sockets_held(pid) & _tcp_sockets(ESTABLISHED, port))


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time the processes have used so far, in seconds."""
    ticks = sum(int(fields[11]) + int(fields[12]) for fields in map(_stat_fields, pids))
    return ticks / os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, name: str) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` now, in KiB (VmRSS)."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """The most resident memory ``pid`` has held, in KiB (VmHWM)."""
    return _status_kib(pid, "VmHWM")
