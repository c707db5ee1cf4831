"""The model's age: the time of its sources' last commit, recorded in the metadata."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regression_model import load_model
from regression_model.config.core import TRAINED_MODEL_DIR
from regression_model.processing.artifacts import (
    ArtifactPaths,
    load_metadata,
    save_metadata,
)
from regression_model.provenance import REPO_ROOT, source_commit_time

# git runs in a subprocess: these belong to the lane that may start processes.
pytestmark = pytest.mark.process


def last_commit() -> tuple[str, int]:
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%H %ct"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return shown[0], int(shown[1])


def packaged_metadata_file() -> Path:
    return next(TRAINED_MODEL_DIR.glob("*.json"))


def test_the_commit_time_is_gits_in_utc_dirty_or_not() -> None:
    # Given a commit of this checkout and git's own commit time for it
    commit, seconds = last_commit()
    # When its time is asked for, plainly and as a dirty tree records it
    plain = source_commit_time(commit)
    dirty = source_commit_time(f"{commit}+dirty")
    # Then both are that instant, in UTC
    assert plain == dirty == datetime.fromtimestamp(seconds, UTC)
    assert plain is not None
    assert plain.utcoffset() is not None


def test_an_unknown_commit_has_no_time() -> None:
    # Given commits no checkout can show
    # When their times are asked for
    # Then there are none
    assert source_commit_time("unknown") is None
    assert source_commit_time("0" * 40) is None


def test_older_metadata_loads_without_the_commit_time(tmp_path: Path) -> None:
    # Given metadata written before the field existed
    recorded = json.loads(packaged_metadata_file().read_text())
    recorded["trained_with"].pop("source_commit_time", None)
    paths = ArtifactPaths.for_version("model", "9.9.9", tmp_path)
    paths.metadata.write_text(json.dumps(recorded))
    # When it is loaded and written back
    old = load_metadata(paths)
    save_metadata(old, paths)
    # Then it loads without the time and is written back unchanged
    assert old.trained_with.source_commit_time is None
    assert load_metadata(paths) == old


def test_training_records_its_commits_time() -> None:
    # Given the metadata training wrote in this checkout
    trained_with = load_model().metadata.trained_with
    # Then it holds the time of the commit it records, as git tells it
    assert trained_with.source_commit_time is not None
    assert trained_with.source_commit_time == source_commit_time(
        trained_with.source_commit
    )
