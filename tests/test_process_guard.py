"""The quick lane's guard: an unmarked test that starts a process fails, a marked runs.

Runs pytest in a child process on a scratch test file, as ``tox -e quick``
runs it (``-p tests.process_guard``), so the guard's audit hook stays out
of this session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.process

SCRATCH_TESTS = """
import socket
import subprocess
import sys

import pytest


def test_unmarked_child():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_unmarked_listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))


def test_unmarked_child_behind_a_broad_except():
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    except Exception:
        pass


@pytest.mark.process
def test_marked_child():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_no_child():
    assert sum([1, 2]) == 3
"""


def test_only_unmarked_tests_that_start_a_process_fail(tmp_path: Path) -> None:
    # Given a test file with unmarked, marked and process-free tests
    (tmp_path / "test_scratch.py").write_text(SCRATCH_TESTS)
    # When pytest runs it with the quick lane's guard
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.process_guard",
         "-o", "markers=process: starts a process", "-p", "no:cacheprovider",
         "-q", "-rA", "test_scratch.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    out = completed.stdout
    # Then the three unmarked starters fail, naming themselves and the marker
    assert completed.returncode == 1, out + completed.stderr
    for name in ("test_unmarked_child", "test_unmarked_listener",
                 "test_unmarked_child_behind_a_broad_except"):  # fmt: skip
        assert f"FAILED test_scratch.py::{name} " in out, out
        assert f"test_scratch.py::{name} started a process or a server" in out
    assert "is not marked 'process': add @pytest.mark.process" in out
    # And the marked one and the process-free one pass
    assert "PASSED test_scratch.py::test_marked_child" in out
    assert "PASSED test_scratch.py::test_no_child" in out
