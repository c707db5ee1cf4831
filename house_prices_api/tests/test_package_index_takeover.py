"""Two checkouts, one index port: the index of another checkout is named or replaced.

The first checkout's ``tox -e serve`` leaves its pypiserver on the port; the
second must not publish into it. A live one is an error naming what runs
(pid, folder, URL) and the commands that fix it; one whose folder was deleted
is stopped and replaced. Real pypiservers on free ports, as ``tox -e serve``
starts them.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port
from stand_in_wheels import stand_in_wheel

from scripts.package_index import (
    PublishError,
    ensure_local_index,
    index_process_on,
    main,
    publish,
    stop_local_index,
    upload_url_for,
)

pytestmark = pytest.mark.process


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def checkouts(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """The index folders of two checkouts and one port; the first's index running."""
    first, second = (
        tmp_path / "one" / ".package-index",
        tmp_path / "two" / ".package-index",
    )
    port = free_port()
    ensure_local_index(first, port)
    yield first, second, port
    for folder in (first, second):
        stop_local_index(folder)
    running = index_process_on(port)
    if running is not None:  # the first's, once its folder (and pid file) is gone
        os.kill(running.pid, signal.SIGTERM)


def test_an_index_found_serving_this_folder_is_reused(
    checkouts: tuple[Path, Path, int],
) -> None:
    first, _, port = checkouts
    pid = index_process_on(port)
    # When the same checkout asks for its index again
    index = ensure_local_index(first, port)
    # Then the running one is reused, and not this call's to stop
    assert not index.started
    assert index.note.startswith("reusing the package index")
    assert index_process_on(port) == pid


def test_another_checkouts_live_index_is_named_with_the_commands_that_fix_it(
    checkouts: tuple[Path, Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the first checkout's index running on the port
    first, second, port = checkouts
    running = index_process_on(port)
    assert running is not None
    # When the second checkout starts its index there (as tox -e serve does)
    status = main(["start", "--dir", str(second), "--port", str(port)])
    # Then it stops, saying what runs, where, and how to fix it; the index is untouched
    err = capsys.readouterr().err
    assert status == 1
    assert f"start FAILED: the package index on http://127.0.0.1:{port}/simple/" in err
    assert (
        f"is pypiserver (pid {running.pid}) serving {first.resolve()}, not {second}"
        in err
    )
    assert f"Stop it with: kill {running.pid}; or use another port: " in err
    assert "tox -e serve -- --index-port " in err
    assert is_alive(running.pid)
    assert index_process_on(port) == running
    assert not second.exists()
    with pytest.raises(PublishError, match=f"pid {running.pid}"):
        ensure_local_index(second, port)


def test_an_index_whose_folder_was_deleted_is_replaced(
    checkouts: tuple[Path, Path, int], tmp_path: Path
) -> None:
    # Given the first checkout's index running, and its folder deleted
    first, second, port = checkouts
    dead = index_process_on(port)
    assert dead is not None
    shutil.rmtree(first)
    # When the second checkout asks for its index on that port
    index = ensure_local_index(second, port)
    # Then the dead index is stopped, named, and this folder's index serves
    assert index.started
    assert f"stopped pypiserver (pid {dead.pid})" in index.note
    assert f"it served {first.resolve()}, which no longer exists" in index.note
    assert not is_alive(dead.pid)
    serving = index_process_on(port)
    assert serving is not None
    assert serving.folder == second.resolve()
    # And publishing there works (the failure was HTTP 500, "no copy of it")
    wheel = stand_in_wheel(tmp_path / "wheel", "0.0.3", {"stub/a.txt": b"a"})
    assert publish(wheel, index.url, upload_url_for(index.url)).startswith("published")
    assert (second / wheel.name).is_file()
