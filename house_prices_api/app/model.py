"""The served model: loaded once at start-up, proven to work before traffic.

Loading happens in the app's lifespan, not at import, so importing the app
(tests, tooling) costs nothing and a broken artifact is reported by the
health endpoint instead of crashing every import. The self-test scores the
package's own example house: a model that loads but cannot predict is not
ready, and the health endpoint says so.
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


@dataclass(frozen=True)
class ServedModel:
    """What the service knows about its model after start-up.

    ``scorer`` is ``None`` when loading failed; ``problem`` then says why.
    """

    backend: ScorerBackend
    package_version: str
    version: str | None = None
    scorer: Scorer | None = None
    self_test_passed: bool = False
    problem: str | None = None

    @property
    def loaded(self) -> bool:
        return self.scorer is not None

    @property
    def ready(self) -> bool:
        return self.loaded and self.self_test_passed


def self_test(scorer: Scorer, version: str) -> str | None:
    """Score the example house; return what went wrong, or ``None`` if it worked.

    Any exception counts as a failed test: the point is to find a broken model
    before a client does, and to report it rather than die with it.
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
    """Verify the packaged artifact, load its scorer and self-test it; never raise.

    Blocking (unpickling, first prediction): call it off the event loop.
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
    except (ArtifactIntegrityError, ValueError, ImportError, OSError) as error:
        logger.error("model not loaded ({} backend): {}", backend, error)
        return ServedModel(
            backend=backend, package_version=package_version, problem=str(error)
        )
    logger.info(
        "model v{} loaded with the {} scorer from {}",
        version,
        backend,
        paths.pipeline.parent,
    )
    problem = self_test(scorer, version)
    if problem:
        logger.error(problem)
    return ServedModel(
        backend=backend,
        package_version=package_version,
        version=version,
        scorer=scorer,
        self_test_passed=problem is None,
        problem=problem,
    )
