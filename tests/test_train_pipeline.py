"""Training: reproducible, gated on held-out quality, and fully recorded."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model.config.core import (
    DATASET_DIR,
    AppConfig,
    package_version,
    parse_config,
)
from regression_model.hashing import file_sha256
from regression_model.processing.artifacts import (
    ArtifactPaths,
    DataFileRecord,
    ModelMetadata,
    load_metadata,
    load_pipeline,
)
from regression_model.processing.snapshot import recorded_provenance
from regression_model.provenance import WHEEL_SOURCES, source_commit
from regression_model.train_pipeline import (
    RECORDED_LIBRARIES,
    ModelQualityError,
    main,
    price_metrics,
    run_training,
)
from tests.support import REPO_ROOT, flip_byte, replace_once, run_python


def artifact_paths(config: AppConfig, directory: Path) -> ArtifactPaths:
    """Where a training run into ``directory`` writes this version's files."""
    return ArtifactPaths.for_version(
        config.app.pipeline_save_file, package_version(), directory
    )


def held_out_prices(pipeline: Pipeline, frame: pd.DataFrame, target: str) -> np.ndarray:
    """Prices a pipeline gives the held-out rows: what two models must agree on."""
    return np.exp(np.asarray(pipeline.predict(frame.drop(columns=[target]))))


def git_output(*args: str) -> str | None:
    """Output of a git command in the checkout, or None where git cannot answer."""
    completed = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() if completed.returncode == 0 else None


def test_price_metrics_match_hand_computed_values() -> None:
    # Given two sales off by +10 % and -10 %
    actual = np.array([100.0, 200.0])
    predicted = np.array([110.0, 180.0])
    # Then the metrics are the textbook formulas
    metrics = price_metrics(actual, predicted)
    assert metrics.rmse == pytest.approx(math.sqrt((10**2 + 20**2) / 2))
    assert metrics.mae == pytest.approx(15.0)
    assert metrics.rmsle == pytest.approx(
        math.sqrt((math.log(1.1) ** 2 + math.log(0.9) ** 2) / 2)
    )
    assert metrics.r2 == pytest.approx(1 - (100 + 400) / (50**2 + 50**2))


# --- what a training run records ---------------------------------------------------


@pytest.mark.process
def test_training_saves_the_artifact_and_metadata_it_returns(
    config: AppConfig, training_run: tuple[Path, ModelMetadata]
) -> None:
    # Given one training run into an empty folder
    output_dir, recorded = training_run
    paths = artifact_paths(config, output_dir)
    # Then the folder holds this version's pickle and metadata (and any exports
    # of the same model beside them), and the metadata on disk is what was returned
    written = {path.name for path in output_dir.iterdir()}
    assert {paths.pipeline.name, paths.metadata.name} <= written
    assert {Path(name).stem for name in written} == {paths.pipeline.stem}
    assert load_metadata(paths) == recorded
    assert recorded.artifact_sha256 == file_sha256(paths.pipeline)


@pytest.mark.process
def test_metadata_records_version_data_code_and_libraries(
    config: AppConfig, training_run: tuple[Path, ModelMetadata]
) -> None:
    _, recorded = training_run
    assert recorded.version == package_version()
    assert recorded.distribution_name == config.app.distribution_name
    # the data: the same hashes and row counts as the committed provenance
    provenance = recorded_provenance()["files"]
    assert recorded.data == {
        name: DataFileRecord(sha256=entry["sha256"], rows=entry["rows"])
        for name, entry in provenance.items()
    }
    # the code and the libraries that decide the predictions
    last = git_output("log", "-1", "--format=%H", "--", *WHEEL_SOURCES)
    commit = recorded.trained_with.source_commit
    assert commit in ({last, f"{last}+dirty"} if last else {"unknown"})
    assert recorded.trained_with.python == "3.11"
    assert recorded.trained_with.libraries == {
        name: importlib_metadata.version(name) for name in RECORDED_LIBRARIES
    }
    assert {"scikit-learn", "pandas", "feature-engine"} <= set(RECORDED_LIBRARIES)
    assert recorded.config == config.model


@pytest.mark.process
def test_recorded_metrics_are_those_of_the_saved_model(
    config: AppConfig,
    training_run: tuple[Path, ModelMetadata],
    holdout_frame: pd.DataFrame,
) -> None:
    # Given the saved artifact, When it prices the held-out split again
    output_dir, recorded = training_run
    target = config.model.target
    pipeline = load_pipeline(artifact_paths(config, output_dir))
    predicted = held_out_prices(pipeline, holdout_frame, target)
    # Then the recorded metrics are exactly what it scores, and pass the gate
    metrics = recorded.metrics.test.model_dump()
    assert set(metrics) == {"rmse", "rmsle", "mae", "r2"}
    recomputed = price_metrics(holdout_frame[target], predicted).model_dump()
    assert metrics == pytest.approx(recomputed, rel=1e-12)
    assert metrics["rmsle"] <= config.gate.max_test_rmsle
    assert 0.0 < metrics["r2"] < 1.0


@pytest.mark.process
def test_source_commit_is_the_last_commit_of_the_wheel_sources() -> None:
    # Given the checkout's history of the files the wheel is built from
    last = git_output("log", "-1", "--format=%H", "--", *WHEEL_SOURCES)
    assert last, "the tests run in a git checkout"
    changes = git_output("status", "--porcelain", "--", *WHEEL_SOURCES)
    # Then the recorded commit is that one (not HEAD), marked dirty if they changed
    assert source_commit() == (f"{last}+dirty" if changes else last)


# --- reproducibility ------------------------------------------------------------------


@pytest.mark.process
def test_training_twice_gives_identical_artifacts_and_predictions(
    config: AppConfig,
    training_run: tuple[Path, ModelMetadata],
    tmp_path: Path,
    holdout_frame: pd.DataFrame,
) -> None:
    # Given a first run, When training again into another folder
    first_dir, first = training_run
    second = run_training(output_dir=tmp_path)
    # Then the pickles are byte-identical and price the held-out split identically
    assert second.artifact_sha256 == first.artifact_sha256
    assert file_sha256(artifact_paths(config, tmp_path).pipeline) == file_sha256(
        artifact_paths(config, first_dir).pipeline
    )
    target = config.model.target
    np.testing.assert_array_equal(
        held_out_prices(
            load_pipeline(artifact_paths(config, tmp_path)), holdout_frame, target
        ),
        held_out_prices(
            load_pipeline(artifact_paths(config, first_dir)), holdout_frame, target
        ),
    )
    assert second.metrics == first.metrics
    assert second.onnx_sha256 == first.onnx_sha256
    assert second.explain_sha256 == first.explain_sha256


TRAIN_IN_FRESH_PROCESS = """
import sys
from pathlib import Path
from regression_model.processing.artifacts import ArtifactPaths, load_pipeline
from regression_model.train_pipeline import run_training
if len(sys.argv) > 2:
    load_pipeline(ArtifactPaths(*(Path(path) for path in sys.argv[2:])))
print(run_training(output_dir=Path(sys.argv[1])).artifact_sha256)
"""


def sha_trained_in_fresh_process(output_dir: Path, *load_first: Path) -> str:
    """The artifact hash of a training run in a new interpreter.

    It runs with tox's PYTHONHASHSEED=0 and, if ``load_first`` names an
    artifact's pickle, metadata and graph paths, loads that model first.
    """
    completed = run_python(
        TRAIN_IN_FRESH_PROCESS,
        str(output_dir),
        *(str(path) for path in load_first),
        cwd=output_dir.parent,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.mark.process
def test_artifact_bytes_do_not_depend_on_what_the_process_did_before(
    config: AppConfig, training_run: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    # Given two fresh interpreters, one of which first loads a trained model
    # (as a service or a test session does before retraining)
    source = artifact_paths(config, training_run[0])
    # When each trains the model
    fresh = sha_trained_in_fresh_process(tmp_path / "fresh")
    after_load = sha_trained_in_fresh_process(
        tmp_path / "after_load",
        source.pipeline,
        source.metadata,
        source.onnx,
        source.explain,
    )
    # Then both write byte-identical artifacts, so the recorded hash is reproducible
    assert after_load == fresh


@pytest.mark.process
def test_packaged_artifact_is_what_the_current_code_and_data_train(
    config: AppConfig,
    training_run: tuple[Path, ModelMetadata],
    packaged_pipeline: Pipeline,
    packaged_metadata: ModelMetadata,
    holdout_frame: pd.DataFrame,
) -> None:
    # A stale trained_models/ would serve a model the code no longer produces.
    output_dir, recorded = training_run
    target = config.model.target
    np.testing.assert_array_equal(
        held_out_prices(packaged_pipeline, holdout_frame, target),
        held_out_prices(
            load_pipeline(artifact_paths(config, output_dir)), holdout_frame, target
        ),
    )
    assert packaged_metadata.config == recorded.config
    assert packaged_metadata.data == recorded.data


# --- the quality gate and other refusals ----------------------------------------------


@pytest.fixture
def strict_config(config_text: str) -> AppConfig:
    """The packaged config with a held-out RMSLE threshold no model can meet."""
    return parse_config(
        replace_once(config_text, "max_test_rmsle: 0.125", "max_test_rmsle: 0.01")
    )


def test_a_model_worse_than_the_threshold_is_refused_and_nothing_saved(
    strict_config: AppConfig, tmp_path: Path
) -> None:
    # Given a folder holding an earlier, valid artifact
    previous = artifact_paths(strict_config, tmp_path)
    previous.pipeline.write_bytes(b"earlier model")
    previous.metadata.write_text("{}")
    # When training against a threshold of 0.01
    with pytest.raises(ModelQualityError, match=r"held-out RMSLE 0\.\d+ > 0\.01"):
        run_training(strict_config, output_dir=tmp_path)
    # Then nothing was written or removed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [previous.pipeline.name, previous.metadata.name]
    )
    assert previous.pipeline.read_bytes() == b"earlier model"


def test_a_refused_model_never_creates_the_output_folder(
    strict_config: AppConfig, tmp_path: Path
) -> None:
    output_dir = tmp_path / "never"
    with pytest.raises(ModelQualityError):
        run_training(strict_config, output_dir=output_dir)
    assert not output_dir.exists()


def test_training_refuses_a_snapshot_that_does_not_match_its_hashes(
    tmp_path: Path,
) -> None:
    # Given a copy of the dataset folder with one changed byte
    dataset_dir = tmp_path / "datasets"
    shutil.copytree(DATASET_DIR, dataset_dir)
    flip_byte(dataset_dir / "train.csv")
    output_dir = tmp_path / "out"
    # When training on it, Then it refuses, naming the file, and saves nothing
    with pytest.raises(RuntimeError, match=r"PROVENANCE\.json: train\.csv"):
        run_training(dataset_dir=dataset_dir, output_dir=output_dir)
    assert not output_dir.exists()


@pytest.mark.process
def test_training_replaces_other_versions_artifacts(
    config: AppConfig, tmp_path: Path
) -> None:
    stale = ArtifactPaths.for_version(config.app.pipeline_save_file, "0.0.0", tmp_path)
    stale.pipeline.write_bytes(b"old")
    stale.metadata.write_text("{}")
    run_training(output_dir=tmp_path)
    assert not stale.pipeline.exists()
    assert not stale.metadata.exists()
    assert artifact_paths(config, tmp_path).pipeline.exists()


# --- the command line -------------------------------------------------------------------


@pytest.mark.process
def test_cli_trains_into_the_given_folder_and_prints_the_metrics(
    config: AppConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    recorded = load_metadata(artifact_paths(config, tmp_path))
    assert f"RMSLE {recorded.metrics.test.rmsle:.4f}" in out
    assert f"{recorded.artifact_sha256}" in out


@pytest.mark.process
def test_cli_if_missing_keeps_a_valid_artifact_and_replaces_a_broken_one(
    config: AppConfig,
    training_run: tuple[Path, ModelMetadata],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a copy of a valid artifact
    source_dir, _ = training_run
    shutil.copytree(source_dir, tmp_path, dirs_exist_ok=True)
    paths = artifact_paths(config, tmp_path)
    stamp = paths.pipeline.stat().st_mtime_ns
    # When asked to train only if missing, Then it keeps the valid one untouched
    assert main(["--if-missing", "--output-dir", str(tmp_path)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert paths.pipeline.stat().st_mtime_ns == stamp
    # And once the artifact is damaged, it trains a verified one again
    flip_byte(paths.pipeline)
    assert main(["--if-missing", "--output-dir", str(tmp_path)]) == 0
    assert (
        file_sha256(paths.pipeline)
        == json.loads(paths.metadata.read_text())["artifact_sha256"]
    )


def test_cli_reports_a_refused_model_and_exits_non_zero(
    strict_config: AppConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from regression_model import train_pipeline

    monkeypatch.setattr(train_pipeline, "load_config", lambda: strict_config)
    assert main(["--output-dir", str(tmp_path)]) == 1
    assert "training FAILED" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
