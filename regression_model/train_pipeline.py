"""Fit the pipeline on the training snapshot, gate it, and save it with its metadata.

Nothing is saved unless the held-out RMSLE meets ``max_test_rmsle``: a model
that got worse must not reach the package, let alone a server. The metadata
beside the artifact records everything needed to trust and reproduce it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

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
from regression_model.evaluation import (
    interval_figures,
    model_out_of_fold,
    model_test_figures,
    quality_problems,
)
from regression_model.explain_tables import export_explanations
from regression_model.export_onnx import export_onnx
from regression_model.hashing import file_sha256
from regression_model.intervals import calibrate_intervals
from regression_model.onnx_parity import OnnxParityError, check_onnx_parity
from regression_model.pipeline import build_pipeline
from regression_model.processing.artifacts import (
    ArtifactIntegrityError,
    ArtifactPaths,
    DataFileRecord,
    MetricsRecord,
    ModelMetadata,
    ModelTests,
    PriceMetrics,
    TrainedWith,
    save_metadata,
    save_pipeline,
    verify_artifact,
    verify_explain,
    verify_onnx,
)
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.snapshot import verify_snapshot
from regression_model.processing.validation import rows_from_input
from regression_model.provenance import source_commit, source_commit_time
from regression_model.scoring import OnnxScorer, PipelineScorer

RECORDED_LIBRARIES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "feature-engine",
    "joblib",
    "pydantic",
    "onnx",
    "onnxruntime",
    "lightgbm",
)


class ModelQualityError(RuntimeError):
    """The freshly fitted model fails a model test (thresholds in ``config.yml``)."""


def price_metrics(actual: pd.Series | np.ndarray, predicted: np.ndarray) -> PriceMetrics:
    """RMSE, RMSLE, MAE (dollars) and R² of predicted prices."""
    actual = np.asarray(actual, dtype=np.float64)
    return PriceMetrics(
        rmse=float(np.sqrt(np.mean((predicted - actual) ** 2))),
        rmsle=float(np.sqrt(np.mean((np.log(predicted) - np.log(actual)) ** 2))),
        mae=float(mean_absolute_error(actual, predicted)),
        r2=float(r2_score(actual, predicted)),
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour decides the predictions."""
    return {name: importlib_metadata.version(name) for name in RECORDED_LIBRARIES}


def training_fingerprint(dataset_dir: Path = DATASET_DIR) -> str:
    """A hash of everything that decides the trained model.

    The package's source, config, VERSION, data snapshot and library versions:
    ``--if-missing`` retrains when any of them changed, so a stale artifact
    can never be packaged just because its file is intact.
    """
    digest = hashlib.sha256()
    sources = sorted(
        path
        for path in PACKAGE_ROOT.rglob("*.py")
        if TRAINED_MODEL_DIR not in path.parents
    )
    inputs = [*sources, PACKAGE_ROOT / "config.yml", PACKAGE_ROOT / "VERSION"]
    inputs.append(PACKAGE_ROOT / "model_selection.json")
    inputs += sorted(dataset_dir.glob("*.csv"))
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(library_versions(), sort_keys=True).encode())
    return digest.hexdigest()


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
) -> ModelMetadata:
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
    oof = model_out_of_fold(config.model, train)
    figures = model_test_figures(config, train, oof)
    intervals = calibrate_intervals(
        oof.predicted,
        oof.log_price,
        coverage=config.model.interval_coverage,
        bands=config.model.interval_price_bands,
    )
    pipeline = fit_pipeline(config, train)
    target = config.model.target
    predicted_log = pipeline.predict(test.drop(columns=[target]))
    metrics = price_metrics(test[target], np.exp(predicted_log))
    figures["test"] = metrics.model_dump()
    figures["intervals"] = interval_figures(
        intervals,
        test,
        predicted_log,
        np.log(test[target].to_numpy(dtype=np.float64)),
        config.gate.min_slice_rows,
    )
    problems = quality_problems(figures, config.gate)
    if problems:
        raise ModelQualityError("the model was not saved: " + "; ".join(problems[:10]))
    commit = source_commit()
    metadata = ModelMetadata(
        version=version,
        distribution_name=config.app.distribution_name,
        trained_with=TrainedWith(
            source_commit=commit,
            source_commit_time=source_commit_time(commit),
            # major.minor: a patch release of the interpreter changes no pickle,
            # and recording it would make the wheel differ between machines.
            python=".".join(platform.python_version_tuple()[:2]),
            libraries=library_versions(),
        ),
        data={
            name: DataFileRecord(sha256=file_sha256(dataset_dir / name), rows=len(frame))
            for name, frame in (
                (config.app.training_data_file, train),
                (config.app.test_data_file, test),
            )
        },
        config=config.model,
        training_fingerprint=training_fingerprint(dataset_dir),
        metrics=MetricsRecord(test=metrics),
        model_tests=ModelTests(figures=figures, thresholds=config.gate),
        intervals=intervals,
    )
    paths = ArtifactPaths.for_version(config.app.pipeline_save_file, version, output_dir)
    recorded = save_pipeline(pipeline, metadata, paths)
    try:
        recorded = export_gated_onnx(
            pipeline, test.drop(columns=[target]), config, paths, recorded
        )
        return record_explanations(
            pipeline, train.drop(columns=[target]), paths, recorded
        )
    except BaseException:
        for path in (paths.metadata, paths.pipeline, paths.onnx, paths.explain):
            path.unlink(missing_ok=True)
        raise


def export_gated_onnx(
    pipeline: Pipeline,
    held_out: pd.DataFrame,
    config: AppConfig,
    paths: ArtifactPaths,
    recorded: ModelMetadata,
) -> ModelMetadata:
    """Export the graph beside the artifact, gate it on parity, record its hash.

    The caller removes every written file if this raises, so a graph that
    disagrees with the pipeline leaves no servable model behind.
    """
    export_onnx(pipeline, paths.onnx)
    report = check_onnx_parity(
        PipelineScorer(pipeline),
        OnnxScorer(paths.onnx),
        rows_from_input(held_out),
        required=config.model.required_features,
        seed=config.model.random_state,
    )
    recorded = recorded.model_copy(
        update={"onnx_sha256": file_sha256(paths.onnx), "onnx_parity": report}
    )
    save_metadata(recorded, paths)
    return recorded


def record_explanations(
    pipeline: Pipeline, train: pd.DataFrame, paths: ArtifactPaths, recorded: ModelMetadata
) -> ModelMetadata:
    """Write the explanation tables beside the graph and record their hash."""
    export_explanations(pipeline, train, paths.explain)
    recorded = recorded.model_copy(update={"explain_sha256": file_sha256(paths.explain)})
    save_metadata(recorded, paths)
    return recorded


def existing_artifact_is_valid(output_dir: Path) -> bool:
    """True when this VERSION's artifact and graph exist, match their hashes,
    and were trained from the current code, config, data and libraries."""
    config = load_config()
    paths = ArtifactPaths.for_version(
        config.app.pipeline_save_file, package_version(), output_dir
    )
    try:
        metadata = verify_artifact(paths)
        verify_onnx(paths, metadata)
        verify_explain(paths, metadata)
    except ArtifactIntegrityError:
        return False
    return metadata.training_fingerprint == training_fingerprint()


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
    except (ModelQualityError, OnnxParityError) as error:
        print(f"training FAILED: {error}", file=sys.stderr)
        return 1
    metrics = recorded.metrics.test
    assert recorded.model_tests is not None  # run_training records them or raises
    cv = recorded.model_tests.figures["cv"]
    print(
        f"model v{recorded.version} {cv['splits']}-fold CV on train.csv: RMSLE "
        f"{cv['model']['mean']:.4f} +/- {cv['model']['std']:.4f} (3-feature baseline "
        f"{cv['baseline_3_features']['mean']:.4f}, median {cv['median']['mean']:.4f})"
    )
    print(
        f"model v{recorded.version} held-out: RMSE {metrics.rmse:,.0f}  "
        f"RMSLE {metrics.rmsle:.4f}  MAE {metrics.mae:,.0f}  R2 {metrics.r2:.4f}"
    )
    coverage = recorded.model_tests.figures["intervals"]
    print(
        f"model v{recorded.version} {coverage['nominal']:.0%} intervals on held-out "
        f"rows: coverage {coverage['coverage']:.3f}, mean width "
        f"{coverage['mean_width']:,.0f} ({coverage['mean_relative_width']:.1%} of "
        "the price)"
    )
    print(f"artifact sha256 {recorded.artifact_sha256} in {args.output_dir}")
    parity = recorded.onnx_parity
    assert parity is not None  # export_gated_onnx records it or raises
    print(
        f"onnx sha256 {recorded.onnx_sha256}: parity on {parity.held_out_rows} "
        f"held-out + {parity.perturbed_rows} perturbed rows, max relative price "
        f"difference {parity.max_relative_difference:.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
