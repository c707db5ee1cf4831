"""Small typed helpers shared by the tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from regression_model.config.core import AppConfig
from regression_model.processing.artifacts import ArtifactPaths
from regression_model.processing.validation import rows_from_input, validate_rows

REPO_ROOT = Path(__file__).resolve().parent.parent


def replace_once(text: str, old: str, new: str) -> str:
    """Edit text in one known place, failing loudly if that place moved or repeats.

    Config tests derive bad configs from the real ``config.yml``; a silent
    no-op replacement would make them test the unmodified file instead.
    """
    count = text.count(old)
    assert count == 1, f"expected {old!r} exactly once in the text, found {count}"
    return text.replace(old, new)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert one byte of a file in place (the middle one unless told otherwise)."""
    data = bytearray(path.read_bytes())
    index = len(data) // 2 if offset is None else offset
    data[index] ^= 0xFF
    path.write_bytes(bytes(data))


def copy_artifact(paths: ArtifactPaths, directory: Path) -> ArtifactPaths:
    """Copy a model's pickle and metadata so a test can damage the copies only."""
    directory.mkdir(parents=True, exist_ok=True)
    copied = ArtifactPaths(
        pipeline=directory / paths.pipeline.name,
        metadata=directory / paths.metadata.name,
        onnx=directory / paths.onnx.name,
        explain=directory / paths.explain.name,
    )
    shutil.copy2(paths.pipeline, copied.pipeline)
    shutil.copy2(paths.metadata, copied.metadata)
    if paths.explain.is_file():
        shutil.copy2(paths.explain, copied.explain)
    return copied


def run_python(
    code: str,
    *args: str,
    cwd: Path,
    python: str = sys.executable,
    import_repo: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (with ``args`` as ``sys.argv[1:]``) in a fresh interpreter.

    A fresh interpreter makes import-time effects observable.

    With ``import_repo`` the checkout is put on ``PYTHONPATH`` (as tox does);
    without it, any ``PYTHONPATH`` is removed and the interpreter runs isolated,
    so only what is installed in ``python``'s environment can be imported.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONHASHSEED"] = "0"
    command = [python, "-c", code, *args]
    if import_repo:
        env["PYTHONPATH"] = str(REPO_ROOT)
    else:
        command.insert(1, "-I")
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def held_out_records(
    holdout_frame: pd.DataFrame, config: AppConfig
) -> list[dict[str, Any]]:
    """The held-out rows that pass validation, as the clean records scorers take."""
    frame = holdout_frame.drop(columns=[config.model.target])
    validated = validate_rows(
        rows_from_input(frame), config.model.features, config.model.required_features
    )
    return [record for record in validated.records if record is not None]
