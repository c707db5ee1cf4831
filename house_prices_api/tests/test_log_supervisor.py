"""The writer's supervisor (``app.log_supervisor``), on stand-in writers.

Each stand-in is a few lines of Python, so these tests check the
supervisor's own rules: restarts with growing pauses, SIGTERM passed on,
a stuck writer killed, and the end when the server is gone. The real
writer under ``bin/start`` is in ``test_prediction_log.py``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
from app.log_supervisor import WriterSupervisor
from servers import API_DIR

from scripts.local_processes import children, has_exited

pytestmark = pytest.mark.process


def stand_in(code: str) -> list[str]:
    """A writer that runs ``code``."""
    return [sys.executable, "-c", code]


def supervise(
    code: str, socket: Path, stop_after: float, **timing: float
) -> tuple[WriterSupervisor, int, float]:
    """Supervise a stand-in writer running ``code`` (``timing``: the supervisor's
    pauses and limits); ask the supervisor to stop after ``stop_after`` seconds,
    as its SIGTERM handler would. The supervisor, its exit status and the
    seconds it ran."""
    supervisor = WriterSupervisor(stand_in(code), socket, **timing)
    timer = threading.Timer(stop_after, supervisor.stop)
    started = time.monotonic()
    timer.start()
    status = supervisor.run()
    timer.join()
    return supervisor, status, time.monotonic() - started


def test_a_writer_that_keeps_dying_is_restarted_with_growing_pauses(
    tmp_path: Path,
) -> None:
    # Given a writer that notes when it started and exits at once, every time
    starts = tmp_path / "starts"
    code = (
        "import time\n"
        f"open({str(starts)!r}, 'a').write(f'{{time.monotonic()}}\\n')\n"
        "raise SystemExit(3)\n"
    )
    # When it is supervised for 2.5 seconds
    supervisor, status, _ = supervise(
        code, tmp_path / "socket", stop_after=2.5, first_pause=0.2
    )
    # Then it was started again and again, but not hundreds of times: each
    # restart waited at least twice as long as the one before (0.2, 0.4, ... s)
    times = [float(line) for line in starts.read_text().split()]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert 2 <= supervisor.starts == len(times) <= 5
    assert all(gap >= 0.2 * 2**index for index, gap in enumerate(gaps))
    assert status == 3


def test_sigterm_is_passed_on_and_the_writers_status_returned(tmp_path: Path) -> None:
    # Given a writer that, on SIGTERM, writes what it holds and exits with 0
    done = tmp_path / "done"
    code = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        f"    open({str(done)!r}, 'w').write('written')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "time.sleep(60)\n"
    )
    # When the supervisor is asked to stop
    supervisor, status, seconds = supervise(code, tmp_path / "socket", stop_after=1)
    # Then the writer finished, was started once, and the supervisor ended with it
    assert done.read_text() == "written"
    assert (status, supervisor.starts) == (0, 1)
    assert seconds < 10


def test_a_writer_that_does_not_stop_is_killed(
    tmp_path: Path,
) -> None:
    # Given a writer that ignores SIGTERM
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(60)\n"
    )
    # When the supervisor is asked to stop
    _, status, seconds = supervise(
        code, tmp_path / "socket", stop_after=1, stop_timeout=1.0
    )
    # Then the writer was killed after the stop timeout, not waited for
    assert status == -signal.SIGKILL
    assert seconds < 10


def only_child(pid: int, timeout: float = 20) -> int:
    """``pid``'s one child, once it has one."""
    deadline = time.monotonic() + timeout
    while not (found := children(pid)):
        assert time.monotonic() < deadline, f"process {pid} started no child"
        time.sleep(0.05)
    (child,) = found
    return child


def gone(pid: int, timeout: float = 20) -> bool:
    """Whether ``pid`` has exited within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not has_exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_supervisor_and_its_writer_end_when_the_server_is_gone(
    tmp_path: Path,
) -> None:
    # Given a server process whose child supervises a writer that never ends
    supervised = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.log_supervisor import WriterSupervisor\n"
        "writer = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        f"sys.exit(WriterSupervisor(writer, Path({str(tmp_path / 'socket')!r})).run())\n"
    )
    server = subprocess.Popen(
        stand_in(
            "import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', {supervised!r}])\n"
            "time.sleep(60)\n"
        ),
        cwd=API_DIR,
    )
    try:
        supervisor = only_child(server.pid)
        writer = only_child(supervisor)
        # When the server is killed outright
        server.kill()
        server.wait()
        # Then the supervisor stops its writer, and both end
        assert gone(writer)
        assert gone(supervisor)
    finally:
        server.kill()
