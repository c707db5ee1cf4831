"""gunicorn's hooks (``gunicorn.conf.py``), called as the arbiter and workers do."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

CONFIG = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


@pytest.fixture
def hooks() -> ModuleType:
    """``gunicorn.conf.py`` as gunicorn reads it: a file, run as a module."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONFIG)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def switch_interval() -> Iterator[None]:
    """Put the interpreter's GIL switch interval back after the test."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
def test_a_worker_hands_the_gil_over_sooner_than_python_s_default(
    hooks: ModuleType,
) -> None:
    # Given the interpreter's default switch interval (5 ms)
    sys.setswitchinterval(0.005)
    # When gunicorn has set a worker up
    hooks.post_worker_init(None)
    # Then the event loop waits at most the configured interval for the GIL
    assert sys.getswitchinterval() == pytest.approx(hooks.GIL_SWITCH_INTERVAL_S)
    assert hooks.GIL_SWITCH_INTERVAL_S < 0.005


def test_a_failed_migration_is_named_by_its_last_exception_line(
    hooks: ModuleType,
) -> None:
    # Given the stderr of a migration that raised
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    connect()\n"
        "sqlalchemy.exc.OperationalError: connection refused\n"
        "  Is the server running on that host?\n"
    )
    # When it is summarised for the arbiter's log
    # Then the summary is the exception after the last frame, on one line
    assert hooks.raised(stderr) == (
        "sqlalchemy.exc.OperationalError: connection refused "
        "Is the server running on that host?"
    )


def test_a_traceback_without_source_lines_still_gives_its_exception(
    hooks: ModuleType,
) -> None:
    # Given a frame without a source line (frozen modules print none)
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "<frozen runpy>", line 198, in _run_module_as_main\n'
        "ModuleNotFoundError: No module named 'app'\n"
    )
    # When it is summarised
    # Then the exception is kept whole
    assert hooks.raised(stderr) == "ModuleNotFoundError: No module named 'app'"
