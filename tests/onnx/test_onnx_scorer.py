"""The ONNX scorer: the pipeline's answers, from plain arrays, behind a verified hash."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from regression_model import ArtifactIntegrityError, load_model, make_prediction
from regression_model.model import load_model_from
from regression_model.processing.artifacts import (
    ArtifactPaths,
    load_metadata,
    save_metadata,
)
from regression_model.processing.features import canonical_label
from regression_model.scoring import OnnxScorer, PipelineScorer, label_text
from tests.support import copy_artifact, flip_byte, run_python

HEAVY_MODULES = ("pandas", "sklearn", "feature_engine", "joblib", "scipy", "onnx")


@pytest.fixture(scope="module")
def onnx_scorer(packaged_paths: ArtifactPaths) -> OnnxScorer:
    return OnnxScorer(packaged_paths.onnx)


@pytest.fixture(scope="module")
def pipeline_scorer(packaged_pipeline: Pipeline) -> PipelineScorer:
    return PipelineScorer(packaged_pipeline)


@pytest.fixture
def copied_artifact(packaged_paths: ArtifactPaths, tmp_path: Path) -> ArtifactPaths:
    """A private copy of the packaged pickle, metadata and graph, to damage."""
    copied = copy_artifact(packaged_paths, tmp_path)
    shutil.copy2(packaged_paths.onnx, copied.onnx)
    return copied


def record_of(house: dict[str, Any], scorer: OnnxScorer) -> dict[str, Any]:
    return {name: house.get(name) for name in scorer.features}


@pytest.mark.parametrize(
    "value", [20, 20.0, "20", np.int64(20), np.float32(20.0), 20.5, "RL", None, np.nan]
)
def test_label_text_is_the_pipelines_label(value: Any) -> None:
    expected = canonical_label(value)
    expected_text = "" if isinstance(expected, float) and np.isnan(expected) else expected
    assert label_text(value) == expected_text


@pytest.mark.parametrize("building_class", [20, 20.0, "20", np.int64(60), 150])
def test_building_class_spellings_price_as_in_the_pipeline(
    building_class: Any,
    example_house: dict[str, Any],
    onnx_scorer: OnnxScorer,
    pipeline_scorer: PipelineScorer,
) -> None:
    # Given a record whose MSSubClass is sent as int, float, text or an unseen code
    record = record_of({**example_house, "MSSubClass": building_class}, onnx_scorer)
    # When both scorers price it / Then they agree
    np.testing.assert_allclose(
        onnx_scorer.predict_log_price([record]),
        pipeline_scorer.predict_log_price([record]),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("Neighborhood", "Greens"),
        ("Neighborhood", "Zzz"),
        ("CentralAir", "X"),
        ("MSZoning", "A (agr)"),
    ],
)
def test_unseen_labels_price_as_in_the_pipeline(
    field: str,
    label: str,
    example_house: dict[str, Any],
    onnx_scorer: OnnxScorer,
    pipeline_scorer: PipelineScorer,
) -> None:
    record = record_of({**example_house, field: label}, onnx_scorer)
    np.testing.assert_allclose(
        onnx_scorer.predict_log_price([record]),
        pipeline_scorer.predict_log_price([record]),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("GrLivArea", None), ("OverallQual", None), ("ExterQual", "Superb")],
)
def test_both_scorers_refuse_a_record_they_cannot_price(
    field: str,
    value: Any,
    example_house: dict[str, Any],
    onnx_scorer: OnnxScorer,
    pipeline_scorer: PipelineScorer,
) -> None:
    # Given a record validation would have rejected (a required number missing,
    # a grade with no mapping), handed to the scorers directly
    record = record_of({**example_house, field: value}, onnx_scorer)
    # When / Then both refuse it rather than invent a price
    with pytest.raises(ValueError, match="cannot be priced"):
        onnx_scorer.predict_log_price([record])
    with pytest.raises(ValueError):  # noqa: PT011 - each library words it its own way
        pipeline_scorer.predict_log_price([record])


def test_no_records_give_no_prices(onnx_scorer: OnnxScorer) -> None:
    prices = onnx_scorer.predict_log_price([])
    assert prices.shape == (0,)
    assert prices.dtype == np.float64


def test_onnx_backend_serves_make_prediction(example_house: dict[str, Any]) -> None:
    onnx_result = make_prediction(input_data=[example_house], model=load_model("onnx"))
    reference = make_prediction(input_data=[example_house], model=load_model("pipeline"))
    assert onnx_result["errors"] == []
    assert onnx_result["predictions"][0] == pytest.approx(
        reference["predictions"][0], rel=1e-9
    )


def test_tampered_graph_is_refused(copied_artifact: ArtifactPaths) -> None:
    # Given a graph with one byte changed after training recorded its hash
    flip_byte(copied_artifact.onnx)
    # When / Then loading it is refused, naming the file
    with pytest.raises(ArtifactIntegrityError, match="tampered"):
        load_model_from(copied_artifact, "onnx")


def test_missing_graph_is_refused(copied_artifact: ArtifactPaths) -> None:
    copied_artifact.onnx.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        load_model_from(copied_artifact, "onnx")


def test_graph_without_a_recorded_hash_is_refused(copied_artifact: ArtifactPaths) -> None:
    metadata = load_metadata(copied_artifact)
    save_metadata(metadata.model_copy(update={"onnx_sha256": None}), copied_artifact)
    with pytest.raises(ArtifactIntegrityError, match="onnx_sha256"):
        load_model_from(copied_artifact, "onnx")


@pytest.mark.process
def test_onnx_backend_imports_no_pandas_nor_scikit_learn(tmp_path: Path) -> None:
    # Given a fresh interpreter
    code = f"""
import sys
from regression_model import EXAMPLE_HOUSE, make_prediction

result = make_prediction(input_data=[EXAMPLE_HOUSE])
assert result["predictions"][0] > 0, result
loaded = {{name.split(".")[0] for name in sys.modules}}
print(sorted(loaded & set({HEAVY_MODULES!r})))
"""
    # When it loads the ONNX scorer and prices a house
    completed = run_python(code, cwd=tmp_path)
    # Then none of the pipeline's libraries were imported
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]", completed.stdout
