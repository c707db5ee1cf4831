"""House-price model for the Ames housing data: a versioned, validated pipeline.

The public API is what this module exports (``__all__``); callers import
from here, never from submodules. Every name is imported on first use
(PEP 562), not at import, so ``import regression_model`` loads no model and
no library, and the standard-library modules of the package (``provenance``,
``hashing``) stay importable by build scripts without the config's
dependencies.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regression_model.model import LoadedModel, ScorerBackend, load_model
    from regression_model.predict import ImputedFields, PredictionResult, make_prediction
    from regression_model.processing.artifacts import (
        ArtifactIntegrityError,
        ModelMetadata,
    )
    from regression_model.processing.schema import EXAMPLE_HOUSE, HouseFeatures
    from regression_model.processing.validation import ROW_LEVEL, RowError
    from regression_model.scoring import Scorer

    __version__: str

__all__ = [
    "EXAMPLE_HOUSE",
    "ROW_LEVEL",
    "ArtifactIntegrityError",
    "HouseFeatures",
    "ImputedFields",
    "LoadedModel",
    "ModelMetadata",
    "PredictionResult",
    "RowError",
    "Scorer",
    "ScorerBackend",
    "__version__",
    "load_model",
    "make_prediction",
]

_MODULE_OF = {
    "make_prediction": "regression_model.predict",
    "PredictionResult": "regression_model.predict",
    "ImputedFields": "regression_model.predict",
    "load_model": "regression_model.model",
    "LoadedModel": "regression_model.model",
    "ScorerBackend": "regression_model.model",
    "ModelMetadata": "regression_model.processing.artifacts",
    "ArtifactIntegrityError": "regression_model.processing.artifacts",
    "HouseFeatures": "regression_model.processing.schema",
    "EXAMPLE_HOUSE": "regression_model.processing.schema",
    "RowError": "regression_model.processing.validation",
    "ROW_LEVEL": "regression_model.processing.validation",
    "Scorer": "regression_model.scoring",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from regression_model.config.core import package_version  # noqa: PLC0415

        value: Any = package_version()
    elif name in _MODULE_OF:
        value = getattr(import_module(_MODULE_OF[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
