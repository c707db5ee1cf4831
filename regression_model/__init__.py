"""House-price model for the Ames housing data: a versioned, validated pipeline.

Public entry points: ``regression_model.predict.make_prediction`` and
``regression_model.train_pipeline.run_training``. ``__version__`` is read
from ``VERSION`` on first use, not at import, so that the standard-library
modules of the package (``provenance``, ``hashing``) can be imported by the
build and publish scripts without the config's dependencies.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from regression_model.config.core import package_version  # noqa: PLC0415

    version = package_version()
    globals()["__version__"] = version
    return version
