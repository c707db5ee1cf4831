"""The served model: loaded once at start-up, proven to work before traffic.

Loading happens in the app's lifespan, not at import, so importing the app
(tests, tooling) costs nothing. A model that cannot be trusted stops the
service from starting: a missing, truncated or tampered artifact (the pickle,
the ONNX graph or the metadata that records their SHA-256), or a model that
loads but cannot price the package's own example house. Failing start-up is
what an orchestrator sees and acts on (a crashed release, a rollback); a
process that stays up answering 503 looks alive and hides the fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loguru import logger

import regression_model
from regression_model.predict import (
    ScorerBackend,
    default_artifact,
    load_scorer,
    make_prediction,
    model_version,
)
from regression_model.processing.artifacts import ArtifactIntegrityError
from regression_model.processing.schema import EXAMPLE_HOUSE
from regression_model.scoring import Scorer


class ModelLoadError(RuntimeError):
    """The model cannot be served: its artifact failed verification or its self-test."""


@dataclass(frozen=True)
class ServedModel:
    """The model the service predicts with, and what health reports about it.

    ``load_model`` only returns one that loaded from a verified artifact and
    passed its self-test.
    """

    backend: ScorerBackend
    package_version: str
    version: str
    scorer: Scorer
    self_test_passed: bool

    @property
    def ready(self) -> bool:
        return self.self_test_passed


def self_test(scorer: Scorer, version: str) -> str | None:
    """Score the example house; return what went wrong, or ``None`` if it worked.

    Any exception counts as a failed test: the point is to find a broken model
    before a client does.
    """
    try:
        result = make_prediction(
            input_data=[EXAMPLE_HOUSE], scorer=scorer, version=version
        )
    except Exception as error:
        logger.exception("self-test on EXAMPLE_HOUSE raised")
        return f"self-test on EXAMPLE_HOUSE raised {type(error).__name__}: {error}"
    price = result["predictions"][0] if result["predictions"] else None
    if result["errors"] or price is None or not math.isfinite(price) or price <= 0:
        return f"self-test on EXAMPLE_HOUSE failed: {result['errors'] or price!r}"
    logger.info("self-test passed: EXAMPLE_HOUSE priced at {:,.0f}", price)
    return None


def load_model(backend: ScorerBackend) -> ServedModel:
    """Verify the packaged artifact, load its scorer and self-test it.

    Raises ``ModelLoadError`` naming the file and the failed check, so that
    start-up fails. Blocking (hashing, unpickling, first prediction): call it
    off the event loop.
    """
    package_version = regression_model.__version__
    logger.info(
        "model package regression_model {} imported from {}",
        package_version,
        regression_model.__file__,
    )
    try:
        paths, _ = default_artifact()
        scorer = load_scorer(backend)
        version = model_version()
    except ArtifactIntegrityError as error:
        raise _refuse(
            f"the {backend} model does not match the sha256 recorded at training "
            f"or cannot be checked against it: {error}"
        ) from error
    except (ValueError, ImportError, OSError) as error:
        raise _refuse(f"the {backend} model could not be loaded: {error}") from error
    logger.info(
        "model v{} loaded with the {} scorer from {}",
        version,
        backend,
        paths.pipeline.parent,
    )
    problem = self_test(scorer, version)
    if problem:
        raise _refuse(f"model v{version} ({backend} scorer): {problem}")
    return ServedModel(
        backend=backend,
        package_version=package_version,
        version=version,
        scorer=scorer,
        self_test_passed=True,
    )


def _refuse(reason: str) -> ModelLoadError:
    """Log why the service will not start, and the error that stops it."""
    message = f"refusing to start: {reason}"
    logger.critical(message)
    return ModelLoadError(message)
