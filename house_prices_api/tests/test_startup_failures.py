"""A model that cannot be trusted stops the real service from starting.

Each test serves a copy of the model package (put first on ``PYTHONPATH``) in
which one artifact file is damaged, starts ``bin/start`` and watches it: the
process must exit with gunicorn's worker boot error status (3) within seconds,
its log must name the file and the SHA-256 check, and health must never have
answered 200 on the way.
"""

from __future__ import annotations

import http.client
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from servers import HEALTH_PATH, REPO_ROOT, START_SCRIPT, free_port, tool_path

from scripts.local_processes import start_in_own_group, stop_group

STARTUP_FAILURE = 3
EXIT_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def pristine_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's model package, trained artifacts included."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(
        REPO_ROOT / "regression_model",
        root / "regression_model",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def _artifact(package_root: Path, suffix: str) -> Path:
    (found,) = (package_root / "regression_model" / "trained_models").glob(f"*{suffix}")
    return found


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete(path: Path) -> None:
    path.unlink()


def _start_and_watch(
    package_root: Path, env: dict[str, str], log_path: Path
) -> tuple[int | None, float, list[int]]:
    """Run bin/start until it exits (or EXIT_WITHIN_S passes), polling health.

    Returns the exit status (``None`` if still running), the seconds it took
    and every health status seen (0 when nothing answered).
    """
    port = free_port()
    full_env = {
        **os.environ,
        "PATH": tool_path(),
        "PYTHONPATH": str(package_root),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    seen: list[int] = []
    started = time.monotonic()
    process = start_in_own_group(
        [str(START_SCRIPT)], log_path, env=full_env, cwd=REPO_ROOT
    )
    try:
        while process.poll() is None and time.monotonic() - started < EXIT_WITHIN_S:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", HEALTH_PATH)
                seen.append(connection.getresponse().status)
                connection.close()
            except OSError:
                seen.append(0)
            time.sleep(0.05)
        return process.poll(), time.monotonic() - started, seen
    finally:
        stop_group(process, timeout=10)


@pytest.mark.process
@pytest.mark.parametrize(
    ("suffix", "damage", "env"),
    [
        pytest.param(".onnx", _flip_a_byte, {}, id="onnx-one-byte-flipped"),
        pytest.param(
            ".onnx", _flip_a_byte, {"WEB_CONCURRENCY": "2"}, id="onnx-flipped-2-workers"
        ),
        pytest.param(
            ".pkl", _truncate, {"SCORER_BACKEND": "pipeline"}, id="pkl-truncated"
        ),
        pytest.param(".json", _delete, {}, id="metadata-deleted"),
        pytest.param(".json", _truncate, {}, id="metadata-truncated"),
    ],
)
def test_a_damaged_artifact_stops_start_up(
    pristine_package: Path,
    tmp_path: Path,
    suffix: str,
    damage: Callable[[Path], None],
    env: dict[str, str],
) -> None:
    # Given a copy of the model package with one artifact file damaged
    package_root = tmp_path / "package"
    shutil.copytree(pristine_package, package_root)
    damaged = _artifact(package_root, suffix)
    damage(damaged)
    # When the service is started on it
    log_path = tmp_path / "server.log"
    status, seconds, health_seen = _start_and_watch(package_root, env, log_path)
    log = log_path.read_text(errors="replace")
    # Then it exits quickly with the start-up failure status, never having served
    assert status == STARTUP_FAILURE, f"exit {status} after {seconds:.1f} s:\n{log}"
    assert seconds < EXIT_WITHIN_S
    assert 200 not in health_seen
    # And the log names the damaged file and the failed hash check
    assert f"imported from {package_root}" in log
    assert "refusing to start" in log
    assert damaged.name in log
    assert "sha256" in log
