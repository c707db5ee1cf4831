"""Shared fixtures: the packaged config, the data snapshot and fitted models.

Expensive objects (the loaded snapshot, a pipeline fitted on it, one training
run) are built once per session; fixtures that hand out mutable objects give
each test its own copy, so no test can leak changes into another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model.config.core import (
    CONFIG_FILE_PATH,
    AppConfig,
    load_config,
    package_version,
)
from regression_model.pipeline import build_pipeline
from regression_model.processing.artifacts import (
    ArtifactPaths,
    ModelMetadata,
    load_pipeline,
    verify_artifact,
)
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.schema import EXAMPLE_HOUSE
from regression_model.train_pipeline import run_training


@pytest.fixture(scope="session")
def config() -> AppConfig:
    """The packaged configuration, parsed fresh from ``config.yml``."""
    return load_config()


@pytest.fixture(scope="session")
def config_text() -> str:
    """The packaged ``config.yml`` text, the base of every edited config."""
    return CONFIG_FILE_PATH.read_text()


@pytest.fixture(scope="session")
def _train_snapshot(config: AppConfig) -> pd.DataFrame:
    """Read once per session; tests get copies through ``train_frame``."""
    return load_dataset(config.app.training_data_file)


@pytest.fixture(scope="session")
def _holdout_snapshot(config: AppConfig) -> pd.DataFrame:
    """Read once per session; tests get copies through ``holdout_frame``."""
    return load_dataset(config.app.test_data_file)


@pytest.fixture
def train_frame(_train_snapshot: pd.DataFrame) -> pd.DataFrame:
    """The training split of the committed snapshot (a private copy)."""
    return _train_snapshot.copy()


@pytest.fixture
def holdout_frame(_holdout_snapshot: pd.DataFrame) -> pd.DataFrame:
    """The held-out split of the committed snapshot (a private copy)."""
    return _holdout_snapshot.copy()


@pytest.fixture(scope="session")
def fitted_pipeline(config: AppConfig, _train_snapshot: pd.DataFrame) -> Pipeline:
    """``build_pipeline(config)`` fitted on the training split; do not refit it."""
    target = config.model.target
    pipeline = build_pipeline(config.model)
    pipeline.fit(_train_snapshot.drop(columns=[target]), np.log(_train_snapshot[target]))
    return pipeline


@pytest.fixture(scope="session")
def packaged_paths(config: AppConfig) -> ArtifactPaths:
    """Where the packaged artifact of this ``VERSION`` lives."""
    return ArtifactPaths.for_version(config.app.pipeline_save_file, package_version())


@pytest.fixture(scope="session")
def packaged_metadata(packaged_paths: ArtifactPaths) -> ModelMetadata:
    """The packaged artifact's metadata, after its hash was verified."""
    return verify_artifact(packaged_paths)


@pytest.fixture(scope="session")
def packaged_pipeline(packaged_paths: ArtifactPaths) -> Pipeline:
    """The packaged fitted pipeline, the one ``make_prediction`` serves."""
    return load_pipeline(packaged_paths)


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelMetadata]:
    """One ``run_training`` into a scratch folder: the folder and the metadata."""
    output_dir = tmp_path_factory.mktemp("trained")
    return output_dir, run_training(output_dir=output_dir)


@pytest.fixture
def example_house() -> dict[str, Any]:
    """A real, complete house row (Kaggle names) that each test may modify."""
    return dict(EXAMPLE_HOUSE)
