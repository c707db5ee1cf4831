"""Export the fitted pipeline to one ONNX graph, built from its learned parameters.

Why by hand and not with a converter: the pipeline holds custom transformers
(label casting, rare-label grouping with fallback buckets, weighted sums)
that no converter knows, and its preparation collapses into very little.
Every label column's whole chain (impute -> group rare labels -> mean code,
or impute -> grade mapping) is one lookup table, all read through one shared
vocabulary (one ``ai.onnx.ml`` LabelEncoder and one ``Gather``); a missing
number becomes its imputed value; each engineered total or age is the same
weighted sum, added in the same order. That gives the design both models
read. The trees are LightGBM's, read from ``booster_.dump_model()`` (public)
into one ``ai.onnx.ml`` ``TreeEnsemble`` (opset 5): its split values and leaf
weights are double tensors, so every threshold is compared in double
precision, as LightGBM compares it. The Lasso folds with its scaler into one
weight per design column and a bias. The blend adds the two with the
configured weights. No op mixes houses, so a house's price is the same bits
in any batch. ``onnx_parity`` then checks that the graph gives the
pipeline's prices before any graph ships.

The graph's contract, which ``OnnxScorer`` and the Node example follow:

* two inputs, one row per raw feature and one column per house:
  ``numbers``, doubles ``[len(numbers), N]`` with NaN for missing, and
  ``labels``, strings ``[len(labels), N]`` with ``""`` for missing (the
  label features, ``MSSubClass`` included, as the pipeline casts it to a
  label). Which Kaggle column each row holds is in the model's metadata
  (``metadata_props``): ``numbers`` and ``labels``, comma-separated, in row
  order, and ``features``, every feature in the model's order;
* one output, ``log_price``, double ``[N]``, and a second, ``design``,
  double ``[len(design), N]``: the imputed, encoded and summed columns both
  models read (``design`` in ``metadata_props`` names its rows), which
  ``explain`` turns into per-feature contributions;
* a row the pipeline refuses to score (a required number missing, a grade
  without a mapping, a number outside the log's domain) gets a non-finite
  ``log_price``: the same "no price" meaning, as a value instead of an error.

A missing label means what it means in the pipeline (the imputed label's code,
or the rare bucket's where nothing imputes); a label the training data never
saw gets the code the pipeline gives it: its rare bucket's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from feature_engine.encoding import MeanEncoder
from feature_engine.imputation import CategoricalImputer, MeanMedianImputer
from feature_engine.transformation import LogCpTransformer
from lightgbm import LGBMRegressor
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import VotingRegressor
from sklearn.linear_model import Lasso
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from regression_model.onnx_contract import (
    DESIGN_OUTPUT,
    LABELS_INPUT,
    NUMBERS_INPUT,
    OUTPUT_NAME,
    GraphNames,
)
from regression_model.processing.features import (
    CategoricalLabelCaster,
    FeatureSelector,
    LinearCombination,
    Mapper,
    RareLabelGrouper,
)

MISSING_TEXT = ""
# ai.onnx.ml opset 5 has TreeEnsemble, whose split values are a tensor of the
# input's type (double here); IR 10 is the lowest IR version that allows it.
OPSET = 21
ML_OPSET = 5
IR_VERSION = 10
# Rows of the logged block are padded to a multiple of this (see ``_log_nodes``):
# the widest SIMD packet, AVX-512, holds 8 doubles.
LOG_PACKET_ROWS = 8
BRANCH_LEQ = 0
AGGREGATE_SUM = 1

# The step types the exporter understands, in order; consecutive steps of one
# type (two imputers, four mappers, several sums) count once. Anything else is
# refused, so a new step can never be silently left out of the graph.
LAYOUT: tuple[type, ...] = (
    FeatureSelector,
    CategoricalLabelCaster,
    CategoricalImputer,
    MeanMedianImputer,
    LinearCombination,
    Mapper,
    RareLabelGrouper,
    MeanEncoder,
    VotingRegressor,
)
LINEAR_LAYOUT: tuple[type, ...] = (LogCpTransformer, StandardScaler, Lasso)


class UnsupportedPipelineError(ValueError):
    """The pipeline has a step or setting the exporter does not translate."""


@dataclass(frozen=True)
class LabelCodes:
    """One label column's whole chain as a table: canonical text -> design value.

    ``default`` is what any other text (a label never seen in training) becomes.
    """

    codes: dict[str, float]
    default: float


@dataclass(frozen=True)
class TreeTables:
    """A tree ensemble in ``TreeEnsemble``'s flat arrays (every split ``<=``)."""

    roots: list[int]
    feature_ids: list[int]
    splits: np.ndarray
    true_ids: list[int]
    true_leafs: list[int]
    false_ids: list[int]
    false_leafs: list[int]
    leaf_weights: np.ndarray


@dataclass(frozen=True)
class ExportPlan:
    """Everything the graph computes, read off the fitted pipeline.

    ``design`` names the columns both models read, in their order: raw
    numbers (imputed), label codes and the engineered sums. The linear model
    is ``linear_weights @ design' + linear_bias`` where ``design'`` has the
    ``logged`` columns replaced by ``log(x + log_shift)``.
    """

    features: list[str]
    numbers: list[str]
    labels: list[str]
    number_fill: np.ndarray
    label_codes: dict[str, LabelCodes]
    combinations: dict[str, dict[str, float]]
    design: list[str]
    logged: list[str]
    log_shift: float
    linear_weights: np.ndarray
    linear_bias: float
    trees: TreeTables
    blend_weights: tuple[float, float]


def _steps_of(steps: list[Any], kind: type) -> list[Any]:
    return [step for step in steps if type(step) is kind]


def _collapsed(kinds: list[type]) -> tuple[type, ...]:
    return tuple(
        kind for i, kind in enumerate(kinds) if i == 0 or kind is not kinds[i - 1]
    )


def check_layout(pipeline: Pipeline) -> None:
    """Refuse any pipeline whose steps are not the layout the exporter translates."""
    kinds = [type(step) for _, step in pipeline.steps]
    if _collapsed(kinds) != LAYOUT:
        expected = [kind.__name__ for kind in LAYOUT]
        raise UnsupportedPipelineError(
            f"export_onnx translates the steps {expected}, "
            f"got {[kind.__name__ for kind in kinds]}"
        )


def _key(label: Any) -> str:
    """A label as the graph sees it: its text, ``""`` when missing."""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return MISSING_TEXT
    return str(label)


def _label_fills(steps: list[Any]) -> dict[str, str]:
    fills: dict[str, str] = {}
    for imputer in _steps_of(steps, CategoricalImputer):
        fills.update({name: _key(value) for name, value in imputer.imputer_dict_.items()})
    return fills


def _encoded_codes(
    name: str, grouper: RareLabelGrouper, encoder: MeanEncoder, fill: str
) -> LabelCodes:
    frequent = {_key(label) for label in grouper.frequent_labels_[name]}
    bucket = _key(grouper.rare_bucket(name))
    encoded = {
        _key(label): float(code) for label, code in encoder.encoder_dict_[name].items()
    }

    def code_of(text: str) -> float:
        grouped = text if text in frequent else bucket
        if grouped not in encoded:
            raise UnsupportedPipelineError(f"{name}: label {grouped!r} has no code")
        return encoded[grouped]

    codes = {text: code_of(text) for text in sorted(frequent)}
    codes[MISSING_TEXT] = code_of(fill) if fill else math.nan
    return LabelCodes(codes=codes, default=code_of(bucket))


def _mapped_codes(mappings: Mapping[str, int], fill: str) -> LabelCodes:
    codes = {_key(label): float(code) for label, code in mappings.items()}
    codes[MISSING_TEXT] = codes.get(fill, math.nan)
    return LabelCodes(codes=codes, default=math.nan)


def _label_codes(steps: list[Any], labels: list[str]) -> dict[str, LabelCodes]:
    fills = _label_fills(steps)
    (grouper,) = _steps_of(steps, RareLabelGrouper)
    (encoder,) = _steps_of(steps, MeanEncoder)
    if encoder.unseen not in {"ignore", "raise"}:
        raise UnsupportedPipelineError(f"MeanEncoder(unseen={encoder.unseen!r})")
    mappings = {
        name: mapper.mappings
        for mapper in _steps_of(steps, Mapper)
        for name in mapper.variables
    }
    if set(grouper.variables) != set(encoder.variables_):
        raise UnsupportedPipelineError(
            "rare grouping and mean encoding differ in columns"
        )
    tables: dict[str, LabelCodes] = {}
    for name in labels:
        fill = fills.get(name, MISSING_TEXT)
        if name in mappings and name not in grouper.variables:
            tables[name] = _mapped_codes(mappings[name], fill)
        elif name in grouper.variables and name not in mappings:
            tables[name] = _encoded_codes(name, grouper, encoder, fill)
        else:
            raise UnsupportedPipelineError(
                f"label column {name} must be either grade-mapped or rare-grouped "
                "and mean-encoded, not both or neither"
            )
    return tables


def _number_fill(steps: list[Any], numbers: list[str]) -> np.ndarray:
    """Each number's imputed value; NaN (stays missing) where none imputes."""
    fills: dict[str, float] = {}
    for imputer in _steps_of(steps, MeanMedianImputer):
        fills.update(
            {name: float(value) for name, value in imputer.imputer_dict_.items()}
        )
    return np.array([fills.get(name, math.nan) for name in numbers], dtype=np.float64)


def _linear_fold(
    linear: Pipeline, design: list[str]
) -> tuple[list[str], float, np.ndarray, float]:
    """Fold the scaler into the Lasso: logged columns, shift, weights, bias.

    ``y = coef . (x - mean) / scale + intercept``, so the weight of column j is
    ``coef_j / scale_j`` and the bias ``intercept - sum(coef_j * mean_j / scale_j)``.
    """
    kinds = [type(step) for _, step in linear.steps]
    if tuple(kinds) != LINEAR_LAYOUT:
        raise UnsupportedPipelineError(f"linear model steps {kinds} are not translated")
    log, scaler, lasso = (step for _, step in linear.steps)
    shift = log.C_
    shifts = (
        {float(shift[name]) for name in log.variables_}
        if isinstance(shift, Mapping)
        else {float(shift)}
    )
    if len(shifts) != 1 or log.base != "e":
        raise UnsupportedPipelineError("the log step needs one shift, base e")
    if list(scaler.feature_names_in_) != design:
        raise UnsupportedPipelineError("the linear model reads another design")
    coef = np.asarray(lasso.coef_, dtype=np.float64)
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    weights = coef / scale
    bias = float(lasso.intercept_) - float(np.sum(weights * mean))
    return list(log.variables_), shifts.pop(), weights, bias


def tree_tables(model: LGBMRegressor, design: list[str]) -> TreeTables:
    """LightGBM's trees, from its public JSON dump, as ``TreeEnsemble`` arrays.

    Every split must be numerical ``<=`` (no categorical splits) on a column
    that is never missing when it reaches the trees (the design is imputed),
    so a tree's path is the same in both. A tree that is a single leaf gets a
    split whose both branches reach that leaf.
    """
    dump = model.booster_.dump_model()
    if dump["feature_names"] != design or dump["num_tree_per_iteration"] != 1:
        raise UnsupportedPipelineError(
            "the trees read another design or predict >1 value"
        )
    if dump["average_output"]:
        raise UnsupportedPipelineError(
            "averaged (random forest) output is not translated"
        )
    roots: list[int] = []
    feature_ids: list[int] = []
    splits: list[float] = []
    true_ids: list[int] = []
    true_leafs: list[int] = []
    false_ids: list[int] = []
    false_leafs: list[int] = []
    leaves: list[float] = []

    def add(tree: dict[str, Any]) -> tuple[int, int]:
        """(index, is_leaf) of ``tree`` in the node or leaf arrays."""
        if "leaf_value" in tree:
            leaves.append(float(tree["leaf_value"]))
            return len(leaves) - 1, 1
        if tree["decision_type"] != "<=" or tree["missing_type"] not in {"None", "NaN"}:
            raise UnsupportedPipelineError(
                f"split {tree['decision_type']!r} with missing "
                f"{tree['missing_type']!r} is not translated"
            )
        index = len(splits)
        feature_ids.append(int(tree["split_feature"]))
        splits.append(float(tree["threshold"]))
        for ids, leafs in ((true_ids, true_leafs), (false_ids, false_leafs)):
            ids.append(-1)
            leafs.append(0)
        for child, ids, leafs in (
            (tree["left_child"], true_ids, true_leafs),
            (tree["right_child"], false_ids, false_leafs),
        ):
            ids[index], leafs[index] = add(child)
        return index, 0

    for info in dump["tree_info"]:
        structure = info["tree_structure"]
        if "leaf_value" in structure:
            structure = {
                "decision_type": "<=",
                "missing_type": "None",
                "split_feature": 0,
                "threshold": 0.0,
                "left_child": structure,
                "right_child": structure,
            }
        root, _ = add(structure)
        roots.append(root)
    return TreeTables(
        roots=roots,
        feature_ids=feature_ids,
        splits=np.array(splits, dtype=np.float64),
        true_ids=true_ids,
        true_leafs=true_leafs,
        false_ids=false_ids,
        false_leafs=false_leafs,
        leaf_weights=np.array(leaves, dtype=np.float64),
    )


def plan_export(pipeline: Pipeline) -> ExportPlan:
    """Read everything the graph needs off the fitted ``pipeline``."""
    check_layout(pipeline)
    steps = [step for _, step in pipeline.steps]
    (selector,) = _steps_of(steps, FeatureSelector)
    (caster,) = _steps_of(steps, CategoricalLabelCaster)
    blend: VotingRegressor = steps[-1]
    features = list(selector.variables)
    label_set = set(caster.variables)
    labels = [name for name in features if name in label_set]
    numbers = [name for name in features if name not in label_set]
    if not labels or not numbers:
        raise UnsupportedPipelineError("the graph needs both label and numeric columns")
    combinations = {
        step.new_variable: {name: float(w) for name, w in step.weights.items()}
        for step in _steps_of(steps, LinearCombination)
    }
    for name, weights in combinations.items():
        if set(weights) - set(numbers):
            raise UnsupportedPipelineError(f"{name} must sum raw numbers only")
    named = blend.named_estimators_
    if list(named) != ["linear", "trees"] or blend.weights is None:
        raise UnsupportedPipelineError("the blend must weigh 'linear' and 'trees'")
    linear, trees = named["linear"], named["trees"]
    if not isinstance(linear, Pipeline) or type(trees) is not LGBMRegressor:
        raise UnsupportedPipelineError(
            "the blend must hold a linear pipeline and LightGBM"
        )
    design = [str(name) for name in blend.feature_names_in_]
    if set(design) != set(features) | set(combinations):
        raise UnsupportedPipelineError("the design is not the features and their sums")
    logged, shift, linear_weights, bias = _linear_fold(linear, design)
    total = float(sum(blend.weights))
    return ExportPlan(
        features=features,
        numbers=numbers,
        labels=labels,
        number_fill=_number_fill(steps, numbers),
        label_codes=_label_codes(steps, labels),
        combinations=combinations,
        design=design,
        logged=logged,
        log_shift=shift,
        linear_weights=linear_weights,
        linear_bias=bias,
        trees=tree_tables(trees, design),
        blend_weights=(
            float(blend.weights[0]) / total,
            float(blend.weights[1]) / total,
        ),
    )


def _constant(name: str, values: Any, dtype: type = np.float64) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _label_block(plan: ExportPlan) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """Every label's design value, ``label_values`` ``[len(labels), N]``, in two lookups.

    One ``LabelEncoder`` maps every label of the input to its index in one
    vocabulary (every column's known texts; an unseen text gets the index
    past the end), and one ``Gather`` reads each column's value for that
    index from a ``[len(labels), len(vocabulary) + 1]`` table (a text a
    column never knew, or an unseen one, gets that column's default).
    """
    tables = [plan.label_codes[name] for name in plan.labels]
    vocabulary = sorted(set().union(*(table.codes for table in tables)))
    width = len(vocabulary) + 1
    values = np.array(
        [
            [table.codes.get(text, table.default) for text in vocabulary]
            + [table.default]
            for table in tables
        ],
        dtype=np.float64,
    )
    node = helper.make_node
    nodes = [
        node(
            "LabelEncoder",
            [LABELS_INPUT],
            ["label_ids"],
            name="label_vocabulary",
            domain="ai.onnx.ml",
            keys_strings=vocabulary,
            values_int64s=list(range(len(vocabulary))),
            default_int64=len(vocabulary),
        ),
        node("Add", ["label_ids", "label_table_offsets"], ["label_cells"]),
        node("Gather", ["label_values_table", "label_cells"], ["label_values"], axis=0),
    ]
    constants = [
        _constant("label_values_table", values.reshape(-1)),
        _constant(
            "label_table_offsets",
            (np.arange(len(tables)) * width).reshape(-1, 1),
            np.int64,
        ),
    ]
    return nodes, constants


def _combination_block(
    plan: ExportPlan,
) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """Each engineered sum as ``{name}__sum`` ``[1, N]``, added term by term in order."""
    node = helper.make_node
    nodes: list[onnx.NodeProto] = []
    constants: list[TensorProto] = []
    for name, weights in plan.combinations.items():
        previous = ""
        for position, (source, weight) in enumerate(weights.items()):
            row, term = f"{name}__row{position}", f"{name}__term{position}"
            constants += [
                _constant(row, [plan.numbers.index(source)], np.int64),
                _constant(f"{name}__weight{position}", weight),
            ]
            nodes += [
                node("Gather", ["filled_numbers", row], [f"{row}_value"], axis=0),
                node("Mul", [f"{row}_value", f"{name}__weight{position}"], [term]),
            ]
            if previous:
                total = f"{name}__partial{position}"
                nodes.append(node("Add", [previous, term], [total]))
                previous = total
            else:
                previous = term
        nodes.append(node("Identity", [previous], [f"{name}__sum"]))
    return nodes, constants


def _log_nodes(rows: int) -> list[onnx.NodeProto]:
    """``logged = log(to_log)``, computed the same way for every row of every batch.

    onnxruntime takes the logarithm of doubles with SIMD packets and leaves
    the elements past the last full packet to the C library's ``log``; the
    two can differ in the last bit, so a house's price would depend on where
    it sits in its batch. Padded with ones to a multiple of ``LOG_PACKET_ROWS``
    rows, the block holds a whole number of packets whatever the batch size
    (its buffer is 64-byte aligned), so every element takes the packet path;
    the padding is sliced off again.
    """
    padded = -(-rows // LOG_PACKET_ROWS) * LOG_PACKET_ROWS
    if padded == rows:
        return [helper.make_node("Log", ["to_log"], ["logged"])]
    return [
        helper.make_node("Pad", ["to_log", "log_pads", "one"], ["to_log_padded"]),
        helper.make_node("Log", ["to_log_padded"], ["logged_padded"]),
        helper.make_node(
            "Slice", ["logged_padded", "zero", "log_rows", "zero"], ["logged"]
        ),
    ]


def _log_constants(rows: int) -> list[TensorProto]:
    padded = -(-rows // LOG_PACKET_ROWS) * LOG_PACKET_ROWS
    if padded == rows:
        return []
    return [
        _constant("log_pads", [0, 0, padded - rows, 0], np.int64),
        _constant("one", 1.0),
        _constant("log_rows", [rows], np.int64),
    ]


def _linear_block(plan: ExportPlan) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """The Lasso's log-price ``linear`` ``[1, N]``: log some rows, weigh, sum down."""
    node = helper.make_node
    kept = [name for name in plan.design if name not in plan.logged]
    order = [*plan.logged, *kept]
    weights = np.array(
        [plan.linear_weights[plan.design.index(name)] for name in order], dtype=np.float64
    )
    nodes = [
        node("Gather", [DESIGN_OUTPUT, "logged_rows"], ["logged_raw"], axis=0),
        node("Add", ["logged_raw", "log_shift"], ["to_log"]),
        *_log_nodes(len(plan.logged)),
        node("Gather", [DESIGN_OUTPUT, "kept_rows"], ["kept"], axis=0),
        node("Concat", ["logged", "kept"], ["linear_design"], axis=0),
        node("Mul", ["linear_design", "linear_weights"], ["linear_terms"]),
        node("ReduceSum", ["linear_terms", "zero"], ["linear_sum"], keepdims=1),
        node("Add", ["linear_sum", "linear_bias"], ["linear"]),
    ]
    constants = [
        _constant("logged_rows", [plan.design.index(n) for n in plan.logged], np.int64),
        _constant("kept_rows", [plan.design.index(n) for n in kept], np.int64),
        _constant("log_shift", plan.log_shift),
        _constant("linear_weights", weights.reshape(-1, 1)),
        _constant("linear_bias", [plan.linear_bias]),
        *_log_constants(len(plan.logged)),
    ]
    return nodes, constants


def _tree_node(plan: ExportPlan) -> onnx.NodeProto:
    """The trees: one ``TreeEnsemble`` over the design, houses as rows."""
    tables = plan.trees
    return helper.make_node(
        "TreeEnsemble",
        ["design_by_house"],
        ["trees_by_house"],
        name="trees",
        domain="ai.onnx.ml",
        aggregate_function=AGGREGATE_SUM,
        post_transform=0,
        n_targets=1,
        tree_roots=tables.roots,
        nodes_featureids=tables.feature_ids,
        nodes_splits=numpy_helper.from_array(tables.splits),
        nodes_modes=numpy_helper.from_array(
            np.full(len(tables.splits), BRANCH_LEQ, dtype=np.uint8)
        ),
        nodes_truenodeids=tables.true_ids,
        nodes_trueleafs=tables.true_leafs,
        nodes_falsenodeids=tables.false_ids,
        nodes_falseleafs=tables.false_leafs,
        leaf_targetids=[0] * len(tables.leaf_weights),
        leaf_weights=numpy_helper.from_array(tables.leaf_weights),
    )


def build_model(plan: ExportPlan, *, doc_string: str = "") -> onnx.ModelProto:
    """The ONNX model that computes ``plan`` (its contract: the module docstring)."""
    node = helper.make_node
    label_nodes, label_constants = _label_block(plan)
    sum_nodes, sum_constants = _combination_block(plan)
    linear_nodes, linear_constants = _linear_block(plan)
    stacked = [*plan.numbers, *plan.labels, *plan.combinations]
    linear_weight, tree_weight = plan.blend_weights
    nodes = [
        node("IsNaN", [NUMBERS_INPUT], ["number_missing"]),
        node(
            "Where", ["number_missing", "number_fill", NUMBERS_INPUT], ["filled_numbers"]
        ),
        *label_nodes,
        *sum_nodes,
        node(
            "Concat",
            ["filled_numbers", "label_values", *(f"{n}__sum" for n in plan.combinations)],
            ["stacked"],
            axis=0,
        ),
        node("Gather", ["stacked", "design_rows"], [DESIGN_OUTPUT], axis=0),
        *linear_nodes,
        node("Transpose", [DESIGN_OUTPUT], ["design_by_house"], perm=[1, 0]),
        _tree_node(plan),
        node("Reshape", ["trees_by_house", "one_row"], ["trees"]),
        node("Mul", ["linear", "linear_share"], ["linear_part"]),
        node("Mul", ["trees", "tree_share"], ["tree_part"]),
        node("Add", ["linear_part", "tree_part"], ["log_price_row"]),
        node("Reshape", ["log_price_row", "one_row_per_house"], [OUTPUT_NAME]),
    ]
    initializers = [
        _constant("number_fill", plan.number_fill.reshape(-1, 1)),
        _constant("design_rows", [stacked.index(name) for name in plan.design], np.int64),
        _constant("zero", [0], np.int64),
        _constant("one_row", [1, -1], np.int64),
        _constant("one_row_per_house", [-1], np.int64),
        _constant("linear_share", linear_weight),
        _constant("tree_share", tree_weight),
        *label_constants,
        *sum_constants,
        *linear_constants,
    ]
    inputs = [
        helper.make_tensor_value_info(
            NUMBERS_INPUT, TensorProto.DOUBLE, [len(plan.numbers), "N"]
        ),
        helper.make_tensor_value_info(
            LABELS_INPUT, TensorProto.STRING, [len(plan.labels), "N"]
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "house_price",
        inputs,
        [
            helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, ["N"]),
            helper.make_tensor_value_info(
                DESIGN_OUTPUT, TensorProto.DOUBLE, [len(plan.design), "N"]
            ),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
        ir_version=IR_VERSION,
        producer_name="regression_model.export_onnx",
        doc_string=doc_string,
    )
    names = GraphNames(
        features=tuple(plan.features),
        numbers=tuple(plan.numbers),
        labels=tuple(plan.labels),
        design=tuple(plan.design),
    )
    helper.set_model_props(model, names.to_metadata())
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(pipeline: Pipeline, path: Path) -> None:
    """Write the fitted ``pipeline`` as an ONNX graph to ``path``."""
    model = build_model(
        plan_export(pipeline),
        doc_string="log(SalePrice) of Ames houses; inputs: one row per Kaggle column "
        "(named in metadata_props), one column per house",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, path)
