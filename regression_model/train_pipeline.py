"""Fit the pipeline on the training snapshot, gate it, and save it with its metadata.

Nothing is saved unless the held-out RMSLE meets ``max_test_rmsle``: a model
that got worse must not reach the package, let alone a server. The metadata
beside the artifact records everything needed to trust and reproduce it.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import Pipeline

from regression_model.config.core import (
    DATASET_DIR,
    PACKAGE_ROOT,
    TRAINED_MODEL_DIR,
    AppConfig,
    load_config,
    package_version,
)
from regression_model.pipeline import build_pipeline
from regression_model.processing.artifacts import (
    ArtifactIntegrityError,
    ArtifactPaths,
    file_sha256,
    save_pipeline,
    verify_artifact,
)
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.snapshot import verify_snapshot

RECORDED_LIBRARIES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "feature-engine",
    "joblib",
    "pydantic",
)


class ModelQualityError(RuntimeError):
    """The freshly fitted model is worse than the configured threshold."""


def price_metrics(
    actual: pd.Series | np.ndarray, predicted: np.ndarray
) -> dict[str, float]:
    """RMSE, RMSLE, MAE (dollars) and R² of predicted prices."""
    actual = np.asarray(actual, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        "rmsle": float(np.sqrt(np.mean((np.log(predicted) - np.log(actual)) ** 2))),
        "mae": float(mean_absolute_error(actual, predicted)),
        "r2": float(r2_score(actual, predicted)),
    }


def git_commit() -> str:
    """The commit being trained from, ``+dirty`` if the tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour decides the predictions."""
    return {name: importlib_metadata.version(name) for name in RECORDED_LIBRARIES}


def fit_pipeline(config: AppConfig, train: pd.DataFrame) -> Pipeline:
    """Fit the configured pipeline on log(target)."""
    target = config.model.target
    pipeline = build_pipeline(config.model)
    pipeline.fit(train.drop(columns=[target]), np.log(train[target]))
    return pipeline


def run_training(
    config: AppConfig | None = None,
    *,
    dataset_dir: Path = DATASET_DIR,
    output_dir: Path = TRAINED_MODEL_DIR,
    version: str | None = None,
) -> dict[str, Any]:
    """Train, evaluate, gate and save; return the recorded metadata."""
    config = config or load_config()
    version = version or package_version()
    problems = verify_snapshot(dataset_dir)
    if problems:
        raise RuntimeError(
            "data snapshot does not match PROVENANCE.json: " + "; ".join(problems)
        )
    train = load_dataset(config.app.training_data_file, dataset_dir)
    test = load_dataset(config.app.test_data_file, dataset_dir)
    pipeline = fit_pipeline(config, train)
    target = config.model.target
    predicted = np.exp(pipeline.predict(test.drop(columns=[target])))
    metrics = price_metrics(test[target], predicted)
    if metrics["rmsle"] > config.model.max_test_rmsle:
        raise ModelQualityError(
            f"held-out RMSLE {metrics['rmsle']:.4f} is worse than max_test_rmsle "
            f"{config.model.max_test_rmsle}: the model was not saved"
        )
    metadata = {
        "version": version,
        "distribution_name": config.app.distribution_name,
        "trained_with": {
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "libraries": library_versions(),
        },
        "data": {
            name: {"sha256": file_sha256(dataset_dir / name), "rows": len(frame)}
            for name, frame in (
                (config.app.training_data_file, train),
                (config.app.test_data_file, test),
            )
        },
        "config": config.model.model_dump(),
        "metrics": {"test": metrics},
    }
    paths = ArtifactPaths.for_version(config.app.pipeline_save_file, version, output_dir)
    return save_pipeline(pipeline, metadata, paths)


def existing_artifact_is_valid(output_dir: Path) -> bool:
    """True when this VERSION's artifact exists and matches its recorded hash."""
    config = load_config()
    paths = ArtifactPaths.for_version(
        config.app.pipeline_save_file, package_version(), output_dir
    )
    try:
        verify_artifact(paths)
    except ArtifactIntegrityError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: train and print the held-out metrics."""
    parser = argparse.ArgumentParser(description="Train the house-price model.")
    parser.add_argument("--output-dir", type=Path, default=TRAINED_MODEL_DIR)
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing if a verified artifact for this VERSION already exists",
    )
    args = parser.parse_args(argv)
    if args.if_missing and existing_artifact_is_valid(args.output_dir):
        print(f"model v{package_version()} already trained in {args.output_dir}")
        return 0
    if os.environ.get("PYTHONHASHSEED") != "0":
        print(
            "note: set PYTHONHASHSEED=0 for byte-identical runs (tox does)",
            file=sys.stderr,
        )
    try:
        recorded = run_training(output_dir=args.output_dir)
    except ModelQualityError as error:
        print(f"training FAILED: {error}", file=sys.stderr)
        return 1
    metrics = recorded["metrics"]["test"]
    print(
        f"model v{recorded['version']} held-out: RMSE {metrics['rmse']:,.0f}  "
        f"RMSLE {metrics['rmsle']:.4f}  MAE {metrics['mae']:,.0f}  R2 {metrics['r2']:.4f}"
    )
    print(f"artifact sha256 {recorded['artifact_sha256']} in {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
