"""The served model: loaded once at start-up, proven to work before traffic.

The model package owns the loaded model (``regression_model.load_model``
verifies the artifact's SHA-256s, loads the scorer and caches it); the
service adds the rule that a model which cannot be trusted stops it from
starting: a missing, truncated or tampered artifact, or a model that loads
but cannot price the package's own example house. Failing start-up is what
an orchestrator sees and acts on (a crashed release, a rollback); a process
that stays up answering 503 looks alive and hides the fault. Loading
happens in the app's lifespan, not at import, so importing the app costs
nothing.
"""

from __future__ import annotations

import math

from loguru import logger

import regression_model
from regression_model import (
    EXAMPLE_HOUSE,
    ArtifactIntegrityError,
    LoadedModel,
    ScorerBackend,
    load_model,
    make_prediction,
)


class ModelLoadError(RuntimeError):
    """The model cannot be served: its artifact failed verification or its self-test."""


def self_test(model: LoadedModel) -> str | None:
    """Score the example house; return what went wrong, or ``None`` if it worked.

    Any exception counts as a failed test: the point is to find a broken model
    before a client does.
    """
    try:
        result = make_prediction(input_data=[EXAMPLE_HOUSE], model=model)
    except Exception as error:
        logger.exception("self-test on EXAMPLE_HOUSE raised")
        return f"self-test on EXAMPLE_HOUSE raised {type(error).__name__}: {error}"
    price = result["predictions"][0] if result["predictions"] else None
    if result["errors"] or price is None or not math.isfinite(price) or price <= 0:
        return f"self-test on EXAMPLE_HOUSE failed: {result['errors'] or price!r}"
    logger.info("self-test passed: EXAMPLE_HOUSE priced at {:,.0f}", price)
    return None


def load_served_model(backend: ScorerBackend) -> LoadedModel:
    """The package's verified model with a ``backend`` scorer, once self-tested.

    Raises ``ModelLoadError`` naming the file and the failed check, so that
    start-up fails. Blocking (hashing, loading, a first prediction).
    """
    logger.info(
        "model package regression_model {} imported from {}",
        regression_model.__version__,
        regression_model.__file__,
    )
    try:
        model = load_model(backend)
    except ArtifactIntegrityError as error:
        raise _refuse(
            f"the {backend} model does not match the sha256 recorded at training "
            f"or cannot be checked against it: {error}"
        ) from error
    except (ValueError, ImportError, OSError) as error:
        raise _refuse(f"the {backend} model could not be loaded: {error}") from error
    logger.info("model v{} loaded with the {} scorer", model.version, backend)
    problem = self_test(model)
    if problem:
        raise _refuse(f"model v{model.version} ({backend} scorer): {problem}")
    return model


def _refuse(reason: str) -> ModelLoadError:
    """Log why the service will not start, and the error that stops it."""
    message = f"refusing to start: {reason}"
    logger.critical(message)
    return ModelLoadError(message)
