"""pytest plugin of the quick lane: a test that starts a process must say so.

``tox -e quick`` deselects the tests marked ``process`` and loads this plugin
(``-p tests.process_guard``), so a test that starts a process or a server
without the marker fails there, naming what it started, instead of slowing
the edit loop down unnoticed. It watches Python's audit events (``sys.addaudithook``),
which every process start and every listening socket raises.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Sequence
from typing import Any

import pytest

MARKER = "process"
# Audit events raised by starting a process, and by a server taking a port.
PROCESS_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "socket.bind",
    }
)


class UnmarkedProcessError(BaseException):
    """A test without the ``process`` marker started a process or a server.

    A ``BaseException``, so that a test's ``except Exception`` cannot hide it.
    """


class ProcessGuard:
    """Knows the running test and refuses process starts from an unmarked one."""

    def __init__(self) -> None:
        self.unmarked_test: str | None = None

    def audit(self, event: str, args: Sequence[Any]) -> None:
        if self.unmarked_test is not None and event in PROCESS_EVENTS:
            raise UnmarkedProcessError(
                f"{self.unmarked_test} started a process or a server ({event} "
                f"{list(args)[:2]!r}) but is not marked '{MARKER}': add "
                f"@pytest.mark.{MARKER} (or a module-level pytestmark)"
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, Any]:
        """Watch the test's setup, call and teardown (module fixtures included)."""
        marked = item.get_closest_marker(MARKER) is not None
        self.unmarked_test = None if marked else item.nodeid
        try:
            return (yield)
        finally:
            self.unmarked_test = None


def pytest_configure(config: pytest.Config) -> None:
    guard = ProcessGuard()
    sys.addaudithook(guard.audit)
    config.pluginmanager.register(guard, "process_guard")
