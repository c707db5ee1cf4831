"""Saving, verifying and loading the versioned model artifact and its metadata.

The artifact is a joblib pickle, and unpickling runs code: it is only ever
loaded after its SHA-256 matches the one recorded at training time; the
exported graph is only handed out after its bytes match theirs. The metadata
is read and written through one typed model, ``ModelMetadata``, so a field
misspelt or missing fails where the file is read. Heavy libraries are
imported inside the functions that need them, so a process that only
verifies or serves an exported graph never loads them.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from regression_model.config.core import TRAINED_MODEL_DIR, GateConfig, ModelConfig
from regression_model.hashing import file_sha256
from regression_model.intervals import IntervalCalibration

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ARTIFACT_SUFFIXES = (".pkl", ".json", ".onnx", ".npz")


class ArtifactIntegrityError(RuntimeError):
    """The trained artifact is missing, truncated or not the one training wrote."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataFileRecord(_Record):
    """One file of the data snapshot the model was trained and evaluated on."""

    sha256: str
    rows: int


class TrainedWith(_Record):
    """Where and with what the model was trained (to reproduce it)."""

    source_commit: str
    python: str
    libraries: dict[str, str]
    # When source_commit was made (UTC): where the model's age starts. Older
    # metadata lacks it; save_metadata fills it in from git.
    source_commit_time: datetime | None = None


class PriceMetrics(_Record):
    """Errors of predicted prices: RMSE, RMSLE, MAE in dollars, and R²."""

    rmse: float
    rmsle: float
    mae: float
    r2: float


class MetricsRecord(_Record):
    """The model's metrics by split (only the held-out ``test`` split today)."""

    test: PriceMetrics


class ParityReport(_Record):
    """What the ONNX gate checked and the largest relative price difference it saw."""

    held_out_rows: int
    perturbed_rows: int
    single_rows: int
    max_relative_difference: float
    tolerance: float
    seed: int


class ModelTests(_Record):
    """The model tests' figures (``evaluation.model_test_figures``) and thresholds."""

    figures: dict[str, Any]
    thresholds: GateConfig


class ModelMetadata(_Record):
    """The metadata JSON written beside an artifact: what to trust and reproduce it by.

    Training writes it in two steps: the hashes of the pickle
    (``artifact_sha256``) and of the exported graph (``onnx_sha256``, with its
    ``onnx_parity`` report) are added as the files are written, so they are
    optional here; verification refuses a file that lacks the one it checks.
    """

    version: str
    distribution_name: str
    trained_with: TrainedWith
    data: dict[str, DataFileRecord]
    config: ModelConfig
    training_fingerprint: str
    metrics: MetricsRecord
    model_tests: ModelTests | None = None
    intervals: IntervalCalibration | None = None
    artifact_sha256: str | None = None
    onnx_sha256: str | None = None
    onnx_parity: ParityReport | None = None
    explain_sha256: str | None = None

    def to_json(self) -> str:
        """The file's text: sorted keys, two-space indent, absent hashes left out."""
        recorded = self.model_dump(mode="json", exclude_none=True)
        return json.dumps(recorded, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class ArtifactPaths:
    """Where one model version's files live."""

    pipeline: Path
    metadata: Path
    onnx: Path
    explain: Path

    @classmethod
    def for_version(
        cls, save_file_prefix: str, version: str, directory: Path = TRAINED_MODEL_DIR
    ) -> ArtifactPaths:
        stem = f"{save_file_prefix}{version}"
        return cls(
            pipeline=directory / f"{stem}.pkl",
            metadata=directory / f"{stem}.json",
            onnx=directory / f"{stem}.onnx",
            explain=directory / f"{stem}.npz",
        )


def save_pipeline(
    pipeline: Pipeline, metadata: ModelMetadata, paths: ArtifactPaths
) -> ModelMetadata:
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
    recorded = metadata.model_copy(
        update={"artifact_sha256": file_sha256(paths.pipeline)}
    )
    save_metadata(recorded, paths)
    return recorded


def save_metadata(metadata: ModelMetadata, paths: ArtifactPaths) -> None:
    """Write the metadata beside the artifact, in the one format readers expect."""
    paths.metadata.write_text(metadata.to_json())


def load_metadata(paths: ArtifactPaths) -> ModelMetadata:
    """Read the metadata written beside an artifact."""
    if not paths.metadata.is_file():
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} is missing: train the model first "
            "(tox -e train)"
        )
    try:
        recorded = json.loads(paths.metadata.read_text())
    except json.JSONDecodeError as error:
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} is not valid JSON: {error}"
        ) from error
    try:
        return ModelMetadata.model_validate(recorded)
    except ValidationError as error:
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} does not hold a model's metadata: {error}"
        ) from error


def verify_artifact(paths: ArtifactPaths) -> ModelMetadata:
    """Check the artifact against its recorded SHA-256; return the metadata."""
    metadata = load_metadata(paths)
    if not paths.pipeline.is_file():
        raise ArtifactIntegrityError(f"model artifact {paths.pipeline} is missing")
    expected = metadata.artifact_sha256
    actual = file_sha256(paths.pipeline)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"model artifact {paths.pipeline} has sha256 {actual}, but its metadata "
            f"records {expected}: refusing to load a tampered or truncated model"
        )
    return metadata


def verify_onnx(paths: ArtifactPaths, metadata: ModelMetadata) -> bytes:
    """The exported graph's bytes, only if they hash to what training recorded.

    A graph runs no code, but a swapped or truncated one would price houses
    wrongly without a sound; the bytes checked are the bytes loaded.
    """
    expected = metadata.onnx_sha256
    if expected is None:
        raise ArtifactIntegrityError(
            f"model metadata {paths.metadata} records no onnx_sha256: "
            "retrain to export the ONNX graph (tox -e train)"
        )
    if not paths.onnx.is_file():
        raise ArtifactIntegrityError(f"exported graph {paths.onnx} is missing")
    graph = paths.onnx.read_bytes()
    actual = hashlib.sha256(graph).hexdigest()
    if actual != expected:
        raise ArtifactIntegrityError(
            f"exported graph {paths.onnx} has sha256 {actual}, but its metadata "
            f"records {expected}: refusing to load a tampered or truncated graph"
        )
    return graph


def verify_explain(paths: ArtifactPaths, metadata: ModelMetadata) -> bytes | None:
    """The explanation tables' bytes if training wrote them and they are intact.

    ``None`` for a model recorded without them (it offers no explanations).
    """
    expected = metadata.explain_sha256
    if expected is None:
        return None
    if not paths.explain.is_file():
        raise ArtifactIntegrityError(f"explanation tables {paths.explain} are missing")
    tables = paths.explain.read_bytes()
    actual = hashlib.sha256(tables).hexdigest()
    if actual != expected:
        raise ArtifactIntegrityError(
            f"explanation tables {paths.explain} have sha256 {actual}, but the "
            f"metadata records {expected}: refusing tampered or truncated tables"
        )
    return tables


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
