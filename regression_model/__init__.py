"""House-price model for the Ames housing data: a versioned, validated pipeline.

Public entry points: ``regression_model.predict.make_prediction`` and
``regression_model.train_pipeline.run_training``.
"""

from regression_model.config.core import package_version

__version__ = package_version()
