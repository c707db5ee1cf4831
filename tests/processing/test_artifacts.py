"""The artifact is only ever unpickled after its SHA-256 matches the recorded one."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.pipeline import Pipeline

from regression_model.hashing import file_sha256
from regression_model.processing.artifacts import (
    ArtifactIntegrityError,
    ArtifactPaths,
    ModelMetadata,
    load_metadata,
    load_pipeline,
    save_metadata,
    save_pipeline,
    verify_artifact,
)
from tests.support import copy_artifact, flip_byte


@pytest.fixture
def artifact(tmp_path: Path, packaged_paths: ArtifactPaths) -> ArtifactPaths:
    """A private copy of the packaged artifact and its metadata."""
    return copy_artifact(packaged_paths, tmp_path / "model")


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to unpickle an artifact."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("joblib.load was called on an unverified artifact")

    monkeypatch.setattr(joblib, "load", refuse)


def test_file_sha256_is_the_hash_of_the_files_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"ames" * 1_000_000)
    assert file_sha256(path) == hashlib.sha256(b"ames" * 1_000_000).hexdigest()


def test_paths_for_a_version_share_one_stem_in_the_directory(tmp_path: Path) -> None:
    paths = ArtifactPaths.for_version("regression_model_v", "1.2.3", tmp_path)
    assert paths.pipeline == tmp_path / "regression_model_v1.2.3.pkl"
    assert paths.metadata == tmp_path / "regression_model_v1.2.3.json"
    assert paths.onnx == tmp_path / "regression_model_v1.2.3.onnx"


def test_an_intact_copy_verifies_and_loads(artifact: ArtifactPaths) -> None:
    metadata = verify_artifact(artifact)
    assert metadata.artifact_sha256 == file_sha256(artifact.pipeline)
    assert isinstance(load_pipeline(artifact), Pipeline)


def assert_hash_mismatch(error: ArtifactIntegrityError, artifact: ArtifactPaths) -> None:
    """The message must name the file and both the actual and recorded hashes."""
    message = str(error)
    recorded = load_metadata(artifact).artifact_sha256
    assert str(artifact.pipeline) in message
    assert f"sha256 {file_sha256(artifact.pipeline)}" in message
    assert f"records {recorded}" in message


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("offset", [0, None, -1], ids=["first", "middle", "last"])
def test_a_changed_byte_is_refused_before_unpickling(
    artifact: ArtifactPaths, offset: int | None
) -> None:
    # Given the copy with one byte changed
    flip_byte(artifact.pipeline, offset)
    # When verified or loaded, Then both refuse, naming the file and the mismatch
    with pytest.raises(ArtifactIntegrityError) as verified:
        verify_artifact(artifact)
    assert_hash_mismatch(verified.value, artifact)
    with pytest.raises(ArtifactIntegrityError) as loaded:
        load_pipeline(artifact)
    assert_hash_mismatch(loaded.value, artifact)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("keep", [0, 100], ids=["emptied", "truncated"])
def test_a_truncated_artifact_is_refused(artifact: ArtifactPaths, keep: int) -> None:
    data = artifact.pipeline.read_bytes()
    artifact.pipeline.write_bytes(data[:keep])
    with pytest.raises(ArtifactIntegrityError) as caught:
        load_pipeline(artifact)
    assert_hash_mismatch(caught.value, artifact)


@pytest.mark.usefixtures("no_unpickling")
def test_a_deleted_artifact_is_refused_by_name(artifact: ArtifactPaths) -> None:
    artifact.pipeline.unlink()
    for check in (verify_artifact, load_pipeline):
        with pytest.raises(ArtifactIntegrityError, match="missing") as caught:
            check(artifact)
        assert str(artifact.pipeline) in str(caught.value)


@pytest.mark.usefixtures("no_unpickling")
def test_missing_metadata_is_refused_by_name(artifact: ArtifactPaths) -> None:
    artifact.metadata.unlink()
    with pytest.raises(ArtifactIntegrityError, match="train the model first") as caught:
        load_pipeline(artifact)
    assert str(artifact.metadata) in str(caught.value)


@pytest.mark.usefixtures("no_unpickling")
def test_corrupt_metadata_is_refused_by_name(artifact: ArtifactPaths) -> None:
    artifact.metadata.write_text('{"artifact_sha256": ')
    with pytest.raises(ArtifactIntegrityError, match="not valid JSON") as caught:
        verify_artifact(artifact)
    assert str(artifact.metadata) in str(caught.value)


@pytest.mark.usefixtures("no_unpickling")
def test_metadata_without_a_hash_is_refused(artifact: ArtifactPaths) -> None:
    metadata = load_metadata(artifact)
    save_metadata(metadata.model_copy(update={"artifact_sha256": None}), artifact)
    with pytest.raises(ArtifactIntegrityError, match="records None"):
        load_pipeline(artifact)


def test_a_verified_file_that_is_not_a_pipeline_is_refused(
    tmp_path: Path, packaged_metadata: ModelMetadata
) -> None:
    # Given a correctly hashed artifact that holds something else
    paths = ArtifactPaths.for_version("model_v", "0.0.1", tmp_path)
    save_pipeline({"not": "a pipeline"}, packaged_metadata, paths)
    # Then loading refuses it by type
    with pytest.raises(ArtifactIntegrityError, match="holds dict, not a scikit-learn"):
        load_pipeline(paths)


def test_save_records_the_hash_and_removes_only_other_versions_files(
    tmp_path: Path, packaged_pipeline: Pipeline, packaged_metadata: ModelMetadata
) -> None:
    # Given a folder with an older version's artifact and an unrelated file
    old = ArtifactPaths.for_version("model_v", "0.0.1", tmp_path)
    for path in (old.pipeline, old.metadata, old.onnx):
        path.write_text("old")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    # When a new version is saved
    paths = ArtifactPaths.for_version("model_v", "0.0.2", tmp_path)
    metadata = packaged_metadata.model_copy(
        update={"version": "0.0.2", "artifact_sha256": None}
    )
    recorded = save_pipeline(packaged_pipeline, metadata, paths)
    # Then only it remains beside the unrelated file, with its hash recorded
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model_v0.0.2.json",
        "model_v0.0.2.pkl",
        "notes.txt",
    ]
    assert recorded == load_metadata(paths)
    assert recorded.version == "0.0.2"
    assert re.fullmatch(r"[0-9a-f]{64}", recorded.artifact_sha256 or "")
    assert verify_artifact(paths) == recorded


RELEASED_METADATA = Path(__file__).parent / "data" / "released_metadata_v0.2.1.json"


def test_an_older_models_metadata_is_refused_naming_its_config(
    tmp_path: Path,
) -> None:
    # Given the metadata file of release 0.2.1 (a Lasso; its config has other keys)
    paths = ArtifactPaths.for_version("model_v", "0.2.1", tmp_path)
    shutil.copy2(RELEASED_METADATA, paths.metadata)
    # When read by this version, Then it is refused by name, not half-loaded
    with pytest.raises(ArtifactIntegrityError, match=r"config\.blend_linear_weight"):
        load_metadata(paths)


@pytest.mark.usefixtures("no_unpickling")
def test_metadata_with_a_misspelt_field_is_refused_by_name(
    artifact: ArtifactPaths,
) -> None:
    # Given metadata whose version key is misspelt
    recorded = json.loads(artifact.metadata.read_text())
    recorded["versoin"] = recorded.pop("version")
    artifact.metadata.write_text(json.dumps(recorded))
    # When verified, Then it is refused, naming the file and both keys
    with pytest.raises(ArtifactIntegrityError, match="versoin") as caught:
        verify_artifact(artifact)
    assert str(artifact.metadata) in str(caught.value)
    assert "version" in str(caught.value)
