"""The exporter: a valid, portable graph whose tables and weights are the pipeline's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from regression_model.config.core import AppConfig
from regression_model.export_onnx import (
    IR_VERSION,
    UnsupportedPipelineError,
    export_onnx,
    plan_export,
)
from regression_model.onnx_contract import (
    FEATURES_KEY,
    LABELS_INPUT,
    LABELS_KEY,
    NUMBERS_INPUT,
    NUMBERS_KEY,
    OUTPUT_NAME,
)
from regression_model.pipeline import build_pipeline
from regression_model.processing.artifacts import ArtifactPaths
from regression_model.scoring import OnnxScorer, PipelineScorer
from tests.support import held_out_records


@pytest.fixture(scope="module")
def packaged_graph(packaged_paths: ArtifactPaths) -> onnx.ModelProto:
    return onnx.load(packaged_paths.onnx)


def label_columns(config: AppConfig) -> list[str]:
    return config.model.categorical_vars + list(config.model.mapped_vars)


def test_graph_is_valid_onnx_that_older_runtimes_read(
    packaged_graph: onnx.ModelProto,
) -> None:
    # Given the packaged graph / When it is checked / Then it is valid, IR <= 10,
    # and uses only the default opset and ai.onnx.ml opset 4
    onnx.checker.check_model(packaged_graph, full_check=True)
    assert packaged_graph.ir_version == IR_VERSION <= 10
    opsets = {entry.domain: entry.version for entry in packaged_graph.opset_import}
    assert opsets == {"": 17, "ai.onnx.ml": 4}


def test_graph_reads_two_typed_inputs_named_row_by_row_in_its_metadata(
    packaged_graph: onnx.ModelProto, config: AppConfig
) -> None:
    labels = set(label_columns(config))
    inputs = {
        value.name: (
            value.type.tensor_type.elem_type,
            [dim.dim_value or dim.dim_param for dim in value.type.tensor_type.shape.dim],
        )
        for value in packaged_graph.graph.input
    }
    names = {prop.key: prop.value.split(",") for prop in packaged_graph.metadata_props}
    # one row per column, named in the metadata; every feature exactly once
    assert names[FEATURES_KEY] == config.model.features
    assert set(names[LABELS_KEY]) == labels
    assert set(names[NUMBERS_KEY]) == set(config.model.features) - labels
    assert len(names[NUMBERS_KEY]) + len(names[LABELS_KEY]) == len(config.model.features)
    assert inputs == {
        NUMBERS_INPUT: (TensorProto.DOUBLE, [len(names[NUMBERS_KEY]), "N"]),
        LABELS_INPUT: (TensorProto.STRING, [len(names[LABELS_KEY]), "N"]),
    }
    (output,) = packaged_graph.graph.output
    assert output.name == OUTPUT_NAME
    assert output.type.tensor_type.elem_type == TensorProto.DOUBLE


def test_all_label_columns_are_read_through_one_vocabulary(
    packaged_graph: onnx.ModelProto, packaged_pipeline: Pipeline
) -> None:
    # Given the packaged graph and the plan it was built from
    nodes = packaged_graph.graph.node
    plan = plan_export(packaged_pipeline)
    (encoder,) = [node for node in nodes if node.op_type == "LabelEncoder"]
    (gather,) = [node for node in nodes if node.op_type == "Gather"]
    table = next(
        init for init in packaged_graph.graph.initializer if init.name == gather.input[0]
    )
    # Then one encoder reads the text input (no op copies the strings first) and
    # the terms table holds, per column, each known text's term and the default
    assert (encoder.domain, list(encoder.input)) == ("ai.onnx.ml", [LABELS_INPUT])
    assert [node.op_type for node in nodes if LABELS_INPUT in node.input] == [
        "LabelEncoder"
    ]
    vocabulary = next(
        [text.decode() for text in attribute.strings]
        for attribute in encoder.attribute
        if attribute.name == "keys_strings"
    )
    terms = onnx.numpy_helper.to_array(table).reshape(len(plan.label_columns), -1)
    for row, name in enumerate(plan.label_columns):
        expected = plan.label_contributions(name)
        column = dict(zip(vocabulary, terms[row], strict=False))
        for text, term in expected.codes.items():
            assert column[text] == term, (name, text)
        np.testing.assert_equal(terms[row][-1], expected.default)


def test_unseen_label_gets_the_code_of_its_rare_bucket(
    packaged_pipeline: Pipeline,
) -> None:
    # Given the fitted rare-label grouper and encoder
    grouper = packaged_pipeline.named_steps["rare_label_grouper"]
    encoder = packaged_pipeline.named_steps["categorical_encoder"]
    # When the plan is read off the pipeline
    plan = plan_export(packaged_pipeline)
    # Then an unseen label's code is the rare bucket's (or the fallback label's)
    for name in grouper.variables:
        expected = encoder.encoder_dict_[name][grouper.rare_bucket(name)]
        assert plan.label_codes[name].default == expected, name
    assert (
        plan.label_codes["CentralAir"].default == encoder.encoder_dict_["CentralAir"]["Y"]
    )


def test_missing_label_gets_the_code_of_its_imputed_label(
    packaged_pipeline: Pipeline, config: AppConfig
) -> None:
    plan = plan_export(packaged_pipeline)
    fills = packaged_pipeline.named_steps["frequent_imputation"].imputer_dict_
    for name, fill in fills.items():
        assert plan.label_codes[name].codes[""] == plan.label_codes[name].codes[fill], (
            name
        )
    # "no fireplace" is its own grade, mapped to 0
    assert (
        plan.label_codes["FireplaceQu"].codes[""] == config.model.qual_mappings["Missing"]
    )
    # a grade nothing could map has no price, as the pipeline's Mapper refuses it
    assert np.isnan(plan.label_codes["ExterQual"].default)


def test_graph_of_a_differently_fitted_pipeline_matches_it(
    tmp_path: Path,
    config: AppConfig,
    train_frame: pd.DataFrame,
    holdout_frame: pd.DataFrame,
) -> None:
    # Given a pipeline fitted on a small sample, so other labels are rare and
    # other statistics are learned than in the packaged model
    sample = train_frame.sample(n=300, random_state=7)
    target = config.model.target
    pipeline = build_pipeline(config.model)
    pipeline.fit(sample.drop(columns=[target]), np.log(sample[target]))
    # When it is exported
    export_onnx(pipeline, tmp_path / "model.onnx")
    # Then the graph prices the held-out houses as the pipeline does
    records = held_out_records(holdout_frame, config)
    expected = PipelineScorer(pipeline).predict_log_price(records)
    actual = OnnxScorer(tmp_path / "model.onnx").predict_log_price(records)
    np.testing.assert_allclose(np.exp(actual), np.exp(expected), rtol=1e-9, atol=0)


def test_export_is_byte_for_byte_reproducible(
    tmp_path: Path, packaged_pipeline: Pipeline
) -> None:
    export_onnx(packaged_pipeline, tmp_path / "first.onnx")
    export_onnx(packaged_pipeline, tmp_path / "second.onnx")
    assert (tmp_path / "first.onnx").read_bytes() == (
        tmp_path / "second.onnx"
    ).read_bytes()


def test_a_step_the_exporter_does_not_translate_is_refused(
    packaged_pipeline: Pipeline,
) -> None:
    # Given the fitted pipeline with its Lasso swapped for another model
    swapped = Pipeline([*packaged_pipeline.steps[:-1], ("ridge", Ridge())])
    # When / Then it is refused, naming the steps, instead of exported wrongly
    with pytest.raises(UnsupportedPipelineError, match="Ridge"):
        plan_export(swapped)


def test_a_missing_step_is_refused(packaged_pipeline: Pipeline) -> None:
    steps = [
        (name, step) for name, step in packaged_pipeline.steps if name != "binarizer"
    ]
    with pytest.raises(UnsupportedPipelineError, match="SklearnTransformerWrapper"):
        plan_export(Pipeline(steps))
