"""Saving, verifying and loading the versioned model artifact.

The artifact is a joblib pickle, and unpickling runs code: it is only ever
loaded after its SHA-256 matches the one recorded at training time. Heavy
libraries are imported inside the functions that need them, so a process
that only verifies or serves an exported graph never loads them.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regression_model.config.core import TRAINED_MODEL_DIR
from regression_model.hashing import file_sha256

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ARTIFACT_SUFFIXES = (".pkl", ".json", ".onnx")


class ArtifactIntegrityError(RuntimeError):
    """The trained artifact is missing, truncated or not the one training wrote."""


@dataclass(frozen=True)
class ArtifactPaths:
    """Where one model version's files live."""

    pipeline: Path
    metadata: Path
    onnx: Path

    @classmethod
    def for_version(
        cls, save_file_prefix: str, version: str, directory: Path = TRAINED_MODEL_DIR
    ) -> ArtifactPaths:
        stem = f"{save_file_prefix}{version}"
        return cls(
            pipeline=directory / f"{stem}.pkl",
            metadata=directory / f"{stem}.json",
            onnx=directory / f"{stem}.onnx",
        )


def save_pipeline(
    pipeline: Pipeline, metadata: dict[str, Any], paths: ArtifactPaths
) -> dict[str, Any]:
    """Persist the fitted pipeline and its metadata (with the artifact's hash).

    Other versions' files in the folder are removed, so the wheel ships exactly
    one model: the one its ``VERSION`` names.
    """
    directory = paths.pipeline.parent
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*"):
        if stale.suffix in ARTIFACT_SUFFIXES and stale.stem != paths.pipeline.stem:
            stale.unlink()
    import joblib  # noqa: PLC0415 - only training and the reference scorer need it

    # Pickle shares repeated objects by identity, which depends on what the
    # process did before (a freshly fitted model shares strings that an
    # unpickled one does not). A round trip first makes the bytes, and so the
    # recorded hash, a function of the model alone.
    joblib.dump(pickle.loads(pickle.dumps(pipeline)), paths.pipeline)
    recorded = {**metadata, "artifact_sha256": file_sha256(paths.pipeline)}
    paths.metadata.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    return recorded


def load_metadata(paths: ArtifactPaths) -> dict[str, Any]:
    """Read the metadata written beside an artifact."""
    if not paths.metadata.is_file():
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} is missing: train the model first "
            "(tox -e train)"
        )
    try:
        return dict(json.loads(paths.metadata.read_text()))
    except json.JSONDecodeError as error:
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} is not valid JSON: {error}"
        ) from error


def verify_artifact(paths: ArtifactPaths) -> dict[str, Any]:
    """Check the artifact against its recorded SHA-256; return the metadata."""
    metadata = load_metadata(paths)
    if not paths.pipeline.is_file():
        raise ArtifactIntegrityError(f"model artifact {paths.pipeline} is missing")
    expected = metadata.get("artifact_sha256")
    actual = file_sha256(paths.pipeline)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"model artifact {paths.pipeline} has sha256 {actual}, but its metadata "
            f"records {expected}: refusing to load a tampered or truncated model"
        )
    return metadata


def load_pipeline(paths: ArtifactPaths) -> Pipeline:
    """Load a fitted pipeline, only after its hash matches the recorded one."""
    verify_artifact(paths)
    import joblib  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    pipeline = joblib.load(paths.pipeline)
    if not isinstance(pipeline, Pipeline):
        raise ArtifactIntegrityError(
            f"model artifact {paths.pipeline} holds {type(pipeline).__name__}, "
            "not a scikit-learn Pipeline"
        )
    return pipeline
