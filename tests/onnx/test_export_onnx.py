"""The exporter: a valid, portable graph whose tables and weights are the pipeline's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
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
    tree_tables,
)
from regression_model.onnx_contract import (
    DESIGN_OUTPUT,
    LABELS_INPUT,
    NUMBERS_INPUT,
    OUTPUT_NAME,
    GraphNames,
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


def test_graph_is_valid_onnx_with_the_opsets_double_trees_need(
    packaged_graph: onnx.ModelProto,
) -> None:
    # Given the packaged graph / When it is checked / Then it is valid, IR <= 10,
    # and uses only the default opset and ai.onnx.ml opset 5 (TreeEnsemble)
    onnx.checker.check_model(packaged_graph, full_check=True)
    assert packaged_graph.ir_version == IR_VERSION <= 10
    opsets = {entry.domain: entry.version for entry in packaged_graph.opset_import}
    assert opsets == {"": 21, "ai.onnx.ml": 5}


def test_tree_splits_are_lightgbms_thresholds_as_doubles(
    packaged_graph: onnx.ModelProto, packaged_pipeline: Pipeline
) -> None:
    # Given the graph's one TreeEnsemble and the fitted LightGBM model
    (trees,) = [
        node for node in packaged_graph.graph.node if node.op_type == "TreeEnsemble"
    ]
    attributes = {attribute.name: attribute for attribute in trees.attribute}
    splits = attributes["nodes_splits"].t
    lightgbm = packaged_pipeline.named_steps["blend"].named_estimators_["trees"]
    # Then the split values are a double tensor holding LightGBM's thresholds exactly
    assert splits.data_type == TensorProto.DOUBLE
    expected = tree_tables(lightgbm, plan_export(packaged_pipeline).design).splits
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(splits), expected)
    assert len(attributes["tree_roots"].ints) == lightgbm.n_estimators


def test_onnxruntime_compares_tree_ensemble_splits_in_double_precision() -> None:
    # Given one split at a threshold that float32 cannot tell from its neighbours
    threshold = 0.1 + 1e-12
    node = onnx.helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", aggregate_function=1,
        post_transform=0, n_targets=1, tree_roots=[0], nodes_featureids=[0],
        nodes_splits=onnx.numpy_helper.from_array(np.array([threshold])),
        nodes_modes=onnx.numpy_helper.from_array(np.array([0], dtype=np.uint8)),
        nodes_truenodeids=[0], nodes_trueleafs=[1], nodes_falsenodeids=[1],
        nodes_falseleafs=[1], leaf_targetids=[0, 0],
        leaf_weights=onnx.numpy_helper.from_array(np.array([1.0, 2.0])),
    )  # fmt: skip
    graph = onnx.helper.make_graph(
        [node],
        "one_split",
        [onnx.helper.make_tensor_value_info("X", TensorProto.DOUBLE, ["N", 1])],
        [onnx.helper.make_tensor_value_info("Y", TensorProto.DOUBLE, ["N", 1])],
    )
    model = onnx.helper.make_model(
        graph,
        opset_imports=[
            onnx.helper.make_opsetid("", 21),
            onnx.helper.make_opsetid("ai.onnx.ml", 5),
        ],
        ir_version=IR_VERSION,
    )
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    # When values at, just above and just below it are scored
    values = np.array([[threshold], [np.nextafter(threshold, 1.0)], [0.1]])
    # Then each goes the way a double comparison sends it
    assert session.run(None, {"X": values})[0].ravel().tolist() == [1.0, 2.0, 1.0]


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
    names = GraphNames.from_metadata(
        {prop.key: prop.value for prop in packaged_graph.metadata_props}
    )
    # one row per column, named in the metadata; every feature exactly once
    assert list(names.features) == config.model.features
    assert set(names.labels) == labels
    assert set(names.numbers) == set(config.model.features) - labels
    assert len(names.numbers) + len(names.labels) == len(config.model.features)
    assert inputs == {
        NUMBERS_INPUT: (TensorProto.DOUBLE, [len(names.numbers), "N"]),
        LABELS_INPUT: (TensorProto.STRING, [len(names.labels), "N"]),
    }
    output, design = packaged_graph.graph.output
    assert output.name == OUTPUT_NAME
    assert output.type.tensor_type.elem_type == TensorProto.DOUBLE
    # and the design both models read, its rows named in the metadata
    assert design.name == DESIGN_OUTPUT
    assert len(names.design) == design.type.tensor_type.shape.dim[0].dim_value


def test_all_label_columns_are_read_through_one_vocabulary(
    packaged_graph: onnx.ModelProto, packaged_pipeline: Pipeline
) -> None:
    # Given the packaged graph and the plan it was built from
    nodes = packaged_graph.graph.node
    plan = plan_export(packaged_pipeline)
    (encoder,) = [node for node in nodes if node.op_type == "LabelEncoder"]
    (gather,) = [node for node in nodes if node.output[0] == "label_values"]
    table = next(
        init for init in packaged_graph.graph.initializer if init.name == gather.input[0]
    )
    # Then one encoder reads the text input (no op copies the strings first) and
    # the table holds, per column, each known text's design value and the default
    assert (encoder.domain, list(encoder.input)) == ("ai.onnx.ml", [LABELS_INPUT])
    assert [node.op_type for node in nodes if LABELS_INPUT in node.input] == [
        "LabelEncoder"
    ]
    vocabulary = next(
        [text.decode() for text in attribute.strings]
        for attribute in encoder.attribute
        if attribute.name == "keys_strings"
    )
    values = onnx.numpy_helper.to_array(table).reshape(len(plan.labels), -1)
    for row, name in enumerate(plan.labels):
        expected = plan.label_codes[name]
        column = dict(zip(vocabulary, values[row], strict=False))
        for text, value in expected.codes.items():
            np.testing.assert_equal(column[text], value, err_msg=f"{name} {text}")
        np.testing.assert_equal(values[row][-1], expected.default)


def test_unseen_label_gets_the_code_of_its_rare_bucket(
    packaged_pipeline: Pipeline,
) -> None:
    # Given the fitted rare-label grouper and encoder
    grouper = packaged_pipeline.named_steps["rare_label_grouper"]
    encoder = packaged_pipeline.named_steps["mean_encoder"]
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
    # Given the fitted pipeline with its blend swapped for another model
    swapped = Pipeline([*packaged_pipeline.steps[:-1], ("ridge", Ridge())])
    # When / Then it is refused, naming the steps, instead of exported wrongly
    with pytest.raises(UnsupportedPipelineError, match="Ridge"):
        plan_export(swapped)


def test_a_missing_step_is_refused(packaged_pipeline: Pipeline) -> None:
    steps = [
        (name, step)
        for name, step in packaged_pipeline.steps
        if name != "rare_label_grouper"
    ]
    with pytest.raises(UnsupportedPipelineError, match="RareLabelGrouper"):
        plan_export(Pipeline(steps))
