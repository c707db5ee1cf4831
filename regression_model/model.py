"""``load_model``: the one owner of a loaded model.

Loading is verifying: the artifact's files are hashed against what training
recorded before anything is unpickled or run, and the result carries its
scorer together with the metadata it was verified against, so the version
a prediction reports is the one of the model that priced it. Nothing is
loaded at import; each backend is loaded once, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal, get_args

from regression_model.config.core import package_version, packaged_config
from regression_model.explain import Explainer
from regression_model.processing.artifacts import (
    ArtifactPaths,
    ModelMetadata,
    load_pipeline,
    verify_artifact,
    verify_explain,
    verify_onnx,
)
from regression_model.scoring import OnnxScorer, PipelineScorer, Scorer

ScorerBackend = Literal["pipeline", "onnx"]


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: its backend, version, metadata, scorer and files."""

    backend: ScorerBackend
    version: str
    metadata: ModelMetadata
    scorer: Scorer
    paths: ArtifactPaths

    @cached_property
    def explainer(self) -> Explainer | None:
        """The explanation tables (None if training wrote none), loaded on first use.

        Verified again as they are read. Most callers never explain, and a
        worker that does not never holds the tables' memory.
        """
        tables = verify_explain(self.paths, self.metadata)
        return None if tables is None else Explainer.from_bytes(tables)


def packaged_paths() -> ArtifactPaths:
    """Where the packaged artifact of this package's ``VERSION`` lives."""
    config = packaged_config()
    return ArtifactPaths.for_version(config.app.pipeline_save_file, package_version())


def load_model(backend: ScorerBackend = "onnx") -> LoadedModel:
    """The packaged model with a scorer of ``backend``, verified, loaded once.

    ``onnx`` runs the exported graph, with no pickle and no pandas (what the
    service and ``make_prediction`` use); ``pipeline`` unpickles the fitted
    scikit-learn pipeline, the reference for training, parity and comparison.
    Raises ``ArtifactIntegrityError`` for a missing or tampered file and
    ``ValueError`` for an unknown backend.
    """
    return _packaged_model(backend)


@lru_cache(maxsize=len(get_args(ScorerBackend)))
def _packaged_model(backend: ScorerBackend) -> LoadedModel:
    """One cache entry per backend, however ``load_model`` was called."""
    return load_model_from(packaged_paths(), backend)


def load_model_from(paths: ArtifactPaths, backend: ScorerBackend) -> LoadedModel:
    """``load_model`` for the artifact at ``paths`` (a candidate, a copy), not cached."""
    if backend not in get_args(ScorerBackend):
        raise ValueError(f"unknown scorer backend {backend!r}; use 'pipeline' or 'onnx'")
    metadata = verify_artifact(paths)
    scorer: Scorer
    if backend == "pipeline":
        scorer = PipelineScorer(load_pipeline(paths))
    else:
        scorer = OnnxScorer(verify_onnx(paths, metadata))
    # Checked now, so a missing or altered table fails the load, not a request.
    verify_explain(paths, metadata)
    return LoadedModel(
        backend=backend,
        version=metadata.version,
        metadata=metadata,
        scorer=scorer,
        paths=paths,
    )
