"""The parity gate, and training's use of it: no graph ships that prices differently."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model import train_pipeline
from regression_model.config.core import AppConfig
from regression_model.hashing import file_sha256
from regression_model.onnx_parity import (
    PERTURBED_ROWS,
    OnnxParityError,
    check_onnx_parity,
    perturbed_records,
)
from regression_model.processing.artifacts import (
    ArtifactPaths,
    ModelMetadata,
    load_metadata,
)
from regression_model.processing.validation import rows_from_input
from regression_model.scoring import OnnxScorer, PipelineScorer


@pytest.fixture
def held_out_rows(holdout_frame: pd.DataFrame, config: AppConfig) -> list[Any]:
    return rows_from_input(holdout_frame.drop(columns=[config.model.target]))


class ShiftedScorer:
    """A scorer that prices one record of each batch slightly off."""

    def __init__(self, scorer: OnnxScorer, index: int, shift: float) -> None:
        self.scorer, self.index, self.shift = scorer, index, shift

    @property
    def features(self) -> list[str]:
        return self.scorer.features

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        log_prices = self.scorer.predict_log_price(records)
        if len(log_prices) > self.index:
            log_prices[self.index] += self.shift
        return log_prices


def test_graph_prices_held_out_and_perturbed_rows_as_the_pipeline(
    packaged_pipeline: Pipeline,
    packaged_paths: ArtifactPaths,
    held_out_rows: list[Any],
    config: AppConfig,
) -> None:
    # Given the packaged pipeline and graph / When the gate compares them
    report = check_onnx_parity(
        PipelineScorer(packaged_pipeline),
        OnnxScorer(packaged_paths.onnx),
        held_out_rows,
        required=config.model.required_features,
    )
    # Then every held-out row and >= 4,000 perturbed rows agree to 1e-9
    assert report.held_out_rows == len(held_out_rows)
    assert report.perturbed_rows >= 4_000
    assert report.max_relative_difference <= 1e-9


def test_perturbed_records_are_reproducible_and_cover_each_variation(
    held_out_rows: list[Any], config: AppConfig, packaged_pipeline: Pipeline
) -> None:
    options = {
        "features": config.model.features,
        "required": config.model.required_features,
    }
    # Given one seed / When perturbed records are made twice / Then they are equal
    first = perturbed_records(held_out_rows, seed=3, **options)
    assert first == perturbed_records(held_out_rows, seed=3, **options)
    assert first != perturbed_records(held_out_rows, seed=4, **options)
    assert len(first) == PERTURBED_ROWS
    # and they carry missing values in every optional field, and labels
    # training never saw
    missing = {
        name for record in first for name, value in record.items() if value is None
    }
    assert missing == set(config.model.features) - set(config.model.required_features)
    frequent = packaged_pipeline.named_steps["rare_label_grouper"].frequent_labels_
    unseen = {
        (name, record[name])
        for record in first
        for name, labels in frequent.items()
        if record[name] is not None and str(record[name]) not in labels
    }
    assert {name for name, _ in unseen} >= {"Neighborhood", "MSSubClass", "MSZoning"}


def test_gate_names_the_record_that_differs(
    packaged_pipeline: Pipeline,
    packaged_paths: ArtifactPaths,
    held_out_rows: list[Any],
    config: AppConfig,
) -> None:
    # Given a candidate that prices record 7 of every batch 1e-6 off in log-price
    candidate = ShiftedScorer(OnnxScorer(packaged_paths.onnx), index=7, shift=1e-6)
    # When / Then the gate fails, naming that record and its difference
    with pytest.raises(
        OnnxParityError, match=r"held-out record 7: relative price difference 1\.0"
    ):
        check_onnx_parity(
            PipelineScorer(packaged_pipeline),
            candidate,
            held_out_rows,
            required=config.model.required_features,
            perturbed=100,
        )


@pytest.mark.process
def test_training_records_the_graphs_hash_and_parity(
    training_run: tuple[Path, ModelMetadata], config: AppConfig
) -> None:
    # Given one training run into a scratch folder
    output_dir, recorded = training_run
    paths = ArtifactPaths.for_version(
        config.app.pipeline_save_file, recorded.version, output_dir
    )
    # Then the graph sits beside the pickle, its hash and parity recorded on disk
    assert recorded.onnx_sha256 == file_sha256(paths.onnx)
    assert recorded.artifact_sha256 == file_sha256(paths.pipeline)
    assert load_metadata(paths) == recorded
    parity = recorded.onnx_parity
    assert parity is not None
    assert parity.perturbed_rows >= 4_000
    assert parity.max_relative_difference <= 1e-9


@pytest.mark.process
def test_failing_gate_leaves_no_servable_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a parity gate that fails
    def failing_gate(*args: Any, **kwargs: Any) -> None:
        raise OnnxParityError("graph disagrees on held-out record 3")

    monkeypatch.setattr(train_pipeline, "check_onnx_parity", failing_gate)
    # When training runs from the command line
    status = train_pipeline.main(["--output-dir", str(tmp_path)])
    # Then it fails, says why, and leaves no pickle, metadata or graph behind
    assert status == 1
    assert "held-out record 3" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == []
