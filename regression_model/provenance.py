"""Where a trained model's code came from: the last commit of its wheel's sources.

Standard library only: the build and publish scripts import it too.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the wheel is built from, relative to the repository root.
WHEEL_SOURCES = (
    "regression_model",
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "requirements/runtime.txt",
)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def source_commit() -> str:
    """The last commit that changed the wheel's sources, ``+dirty`` if they changed since.

    Not ``HEAD``: a commit elsewhere (the service, the tests, a release pin)
    must not change the trained artifact's metadata, or the wheel built from
    the same model sources would change with it and no longer match the
    SHA-256 the service pins. A shallow clone without that commit records
    its ``HEAD`` instead.
    """
    try:
        commit = _git("log", "-1", "--format=%H", "--", *WHEEL_SOURCES)
        dirty = _git("status", "--porcelain", "--", *WHEEL_SOURCES)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit or "unknown"


def source_commit_time(commit: str) -> datetime | None:
    """When ``commit`` (as ``source_commit`` records it) was committed, in UTC.

    The model's age starts there: a fixed fact of the commit, so training
    the same sources twice still writes the same bytes. None for an
    ``unknown`` commit or one git cannot show.
    """
    sha = commit.removesuffix("+dirty")
    if sha == "unknown":
        return None
    try:
        shown = _git("show", "-s", "--format=%ct", sha)
    except (OSError, subprocess.CalledProcessError):
        return None
    return datetime.fromtimestamp(int(shown), UTC) if shown.isdigit() else None
