"""Export the fitted pipeline to one ONNX graph, built from its learned parameters.

Why by hand and not with a converter: the pipeline holds custom transformers
(label casting, rare-label grouping with fallback buckets) that no converter
knows, and most of it collapses into very little. Every categorical column's
whole chain (impute -> group rare labels -> ordinal code, or impute -> grade
mapping) is one lookup table; all of them are read through one shared
vocabulary (one ``ai.onnx.ml`` LabelEncoder and one ``Gather``).
Numeric columns keep a few element-wise ops (log, binarize). What follows
is linear (the elapsed-time difference, the MinMax scaling, the Lasso), so
it folds into one weight per column and one bias: each label's table gives
its term of the log-price directly, a missing number's term is a constant
(its imputed value's term plus its missing flag's weight), and one ``Sum``
adds the bias, the numeric terms and the label terms, in double precision.
No op mixes houses, so a house's price is the same bits in any batch.
``onnx_parity`` then checks that the graph gives the pipeline's prices
before any graph ships.

The graph's contract, which ``OnnxScorer`` and the Node example follow:

* two inputs, one row per raw feature and one column per house:
  ``numbers``, doubles ``[len(numbers), N]`` with NaN for missing, and
  ``labels``, strings ``[len(labels), N]`` with ``""`` for missing (the
  label features, ``MSSubClass`` included, as the pipeline casts it to a
  label). Which Kaggle column each row holds is in the model's metadata
  (``metadata_props``): ``numbers`` and ``labels``, comma-separated, in row
  order, and ``features``, every feature in the model's order. Two arrays
  instead of one per column: onnxruntime converts each input separately,
  which cost more than the arithmetic for one house;
* one output, ``log_price``, double ``[N]``;
* a row the pipeline refuses to score (a required number missing, a grade
  without a mapping, a non-positive number under a log) gets a non-finite
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
from feature_engine.encoding import OrdinalEncoder
from feature_engine.imputation import (
    AddMissingIndicator,
    CategoricalImputer,
    MeanMedianImputer,
)
from feature_engine.selection import DropFeatures
from feature_engine.transformation import LogTransformer
from feature_engine.wrappers import SklearnTransformerWrapper
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import Lasso
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer, MinMaxScaler

from regression_model.onnx_contract import (
    FEATURES_KEY,
    LABELS_INPUT,
    LABELS_KEY,
    NUMBERS_INPUT,
    NUMBERS_KEY,
    OUTPUT_NAME,
)
from regression_model.processing.features import (
    CategoricalLabelCaster,
    FeatureSelector,
    Mapper,
    RareLabelGrouper,
    TemporalVariableTransformer,
)

MISSING_TEXT = ""
# onnxruntime-web and older runtimes read these: IR 9 is the lowest IR version
# that allows ai.onnx.ml opset 4 (the opset the Node example was checked with;
# the one LabelEncoder, text to int64, would also run on opsets 1-3).
OPSET = 17
ML_OPSET = 4
IR_VERSION = 9
# Rows of the logged block are padded to a multiple of this (see ``_log_nodes``):
# the widest SIMD packet, AVX-512, holds 8 doubles.
LOG_PACKET_ROWS = 8

# The step types the exporter understands, in order; consecutive steps of one
# type (two imputers, four mappers) count once. Anything else is refused, so
# a new step can never be silently left out of the graph.
LAYOUT: tuple[type, ...] = (
    FeatureSelector,
    CategoricalLabelCaster,
    CategoricalImputer,
    AddMissingIndicator,
    MeanMedianImputer,
    TemporalVariableTransformer,
    DropFeatures,
    LogTransformer,
    SklearnTransformerWrapper,
    Mapper,
    RareLabelGrouper,
    OrdinalEncoder,
    MinMaxScaler,
    Lasso,
)


class UnsupportedPipelineError(ValueError):
    """The pipeline has a step or setting the exporter does not translate."""


@dataclass(frozen=True)
class LabelCodes:
    """One label column's whole chain as a table: canonical text -> number.

    ``default`` is what any other text (a label never seen in training) becomes.
    """

    codes: dict[str, float]
    default: float


@dataclass(frozen=True)
class ExportPlan:
    """Everything the graph computes, read off the fitted pipeline.

    Numeric columns are grouped by what happens to them after imputation
    (``logged``, ``binarized``, ``plain``), so each op runs on its own rows
    only. The design matrix the weights apply to has one row per numeric
    column (transformed), one per numeric column's missing flag, both in
    ``numeric_columns`` order, then one per label column (its code):
    ``weights @ design + bias`` is the log-price. The graph adds up the same
    terms without building that matrix (see the module docstring).
    """

    features: list[str]
    logged: list[str]
    binarized: list[str]
    plain: list[str]
    label_columns: list[str]
    numeric_fill: np.ndarray
    binarize_threshold: np.ndarray
    label_codes: dict[str, LabelCodes]
    weights: np.ndarray
    bias: float

    @property
    def numeric_columns(self) -> list[str]:
        """The numeric columns in the order of the graph's numeric block."""
        return [*self.logged, *self.binarized, *self.plain]

    def transformed_fill(self) -> np.ndarray:
        """Each numeric column's imputed value after its log / binarize / keep step."""
        logged, binarized = len(self.logged), len(self.binarized)
        fill = self.numeric_fill
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.concatenate(
                [
                    np.log(fill[:logged]),
                    np.where(
                        np.isnan(fill[logged : logged + binarized]),
                        np.nan,
                        fill[logged : logged + binarized] > self.binarize_threshold,
                    ),
                    fill[logged + binarized :],
                ]
            )

    def missing_contributions(self) -> np.ndarray:
        """What a missing value adds to the log-price, per numeric column.

        The imputed value's weighted term plus the missing flag's weight: a
        constant, so the graph picks it instead of imputing and flagging. NaN
        where nothing imputes (the pipeline refuses such a row).
        """
        numeric = len(self.numeric_columns)
        value_weights, flag_weights = (
            self.weights[:numeric],
            self.weights[numeric : 2 * numeric],
        )
        return np.asarray(value_weights * self.transformed_fill() + flag_weights)

    def label_contributions(self, name: str) -> LabelCodes:
        """A label column's table of what each label adds to the log-price."""
        numeric = len(self.numeric_columns)
        weight = self.weights[2 * numeric + self.label_columns.index(name)]
        table = self.label_codes[name]
        return LabelCodes(
            codes={text: float(weight * code) for text, code in table.codes.items()},
            default=float(weight * table.default),
        )


def _steps_of(pipeline: Pipeline, kind: type) -> list[Any]:
    return [step for _, step in pipeline.steps if type(step) is kind]


def check_layout(pipeline: Pipeline) -> None:
    """Refuse any pipeline whose steps are not the layout the exporter translates."""
    kinds = [type(step) for _, step in pipeline.steps]
    collapsed = tuple(
        kind for i, kind in enumerate(kinds) if i == 0 or kind is not kinds[i - 1]
    )
    if collapsed != LAYOUT:
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


def _label_fills(pipeline: Pipeline) -> dict[str, str]:
    fills: dict[str, str] = {}
    for imputer in _steps_of(pipeline, CategoricalImputer):
        fills.update({name: _key(value) for name, value in imputer.imputer_dict_.items()})
    return fills


def _rare_codes(
    name: str, grouper: RareLabelGrouper, encoder: OrdinalEncoder, fill: str
) -> LabelCodes:
    frequent = {_key(label) for label in grouper.frequent_labels_[name]}
    bucket = _key(grouper.rare_bucket(name))
    encoded = {
        _key(label): float(code) for label, code in encoder.encoder_dict_[name].items()
    }

    def code_of(text: str) -> float:
        grouped = text if text in frequent else bucket
        if grouped not in encoded:
            raise UnsupportedPipelineError(
                f"{name}: label {grouped!r} has no ordinal code"
            )
        return encoded[grouped]

    codes = {text: code_of(text) for text in sorted(frequent)}
    codes[MISSING_TEXT] = code_of(fill)
    return LabelCodes(codes=codes, default=code_of(bucket))


def _mapped_codes(mappings: Mapping[str, int], fill: str) -> LabelCodes:
    codes = {_key(label): float(code) for label, code in mappings.items()}
    codes[MISSING_TEXT] = codes.get(fill, math.nan)
    return LabelCodes(codes=codes, default=math.nan)


def _label_codes(pipeline: Pipeline, label_columns: list[str]) -> dict[str, LabelCodes]:
    fills = _label_fills(pipeline)
    (grouper,) = _steps_of(pipeline, RareLabelGrouper)
    (encoder,) = _steps_of(pipeline, OrdinalEncoder)
    mappings = {
        name: mapper.mappings
        for mapper in _steps_of(pipeline, Mapper)
        for name in mapper.variables
    }
    if set(grouper.variables) != set(encoder.variables_):
        raise UnsupportedPipelineError(
            "rare grouping and ordinal encoding differ in columns"
        )
    tables: dict[str, LabelCodes] = {}
    for name in label_columns:
        fill = fills.get(name, MISSING_TEXT)
        if name in mappings and name not in grouper.variables:
            tables[name] = _mapped_codes(mappings[name], fill)
        elif name in grouper.variables and name not in mappings:
            tables[name] = _rare_codes(name, grouper, encoder, fill)
        else:
            raise UnsupportedPipelineError(
                f"label column {name} must be either grade-mapped or rare-grouped "
                "and ordinal-encoded, not both or neither"
            )
    return tables


def _numeric_groups(pipeline: Pipeline, numeric: list[str]) -> tuple[list[str], ...]:
    """Split the numeric columns into (logged, binarized, plain), keeping their order."""
    logged: set[str] = set()
    for transformer in _steps_of(pipeline, LogTransformer):
        if transformer.base != "e":
            raise UnsupportedPipelineError(f"LogTransformer base {transformer.base!r}")
        logged.update(transformer.variables_)
    binarized: set[str] = set()
    for wrapper in _steps_of(pipeline, SklearnTransformerWrapper):
        if not isinstance(wrapper.transformer_, Binarizer):
            raise UnsupportedPipelineError(
                f"wrapped {type(wrapper.transformer_).__name__} is not translated"
            )
        binarized.update(wrapper.variables_)
    if (logged | binarized) - set(numeric) or logged & binarized:
        raise UnsupportedPipelineError(
            "log and binarize steps must each take their own numeric columns"
        )
    return (
        [name for name in numeric if name in logged],
        [name for name in numeric if name in binarized],
        [name for name in numeric if name not in logged | binarized],
    )


def _binarize_thresholds(pipeline: Pipeline, binarized: list[str]) -> np.ndarray:
    thresholds = {
        name: float(wrapper.transformer_.threshold)
        for wrapper in _steps_of(pipeline, SklearnTransformerWrapper)
        for name in wrapper.variables_
    }
    return np.array([thresholds[name] for name in binarized], dtype=np.float64)


def _numeric_fill(pipeline: Pipeline, numeric: list[str]) -> np.ndarray:
    """Each numeric column's imputed value; NaN (stays missing) where none imputes."""
    fills: dict[str, float] = {}
    for imputer in _steps_of(pipeline, MeanMedianImputer):
        fills.update(
            {name: float(value) for name, value in imputer.imputer_dict_.items()}
        )
    return np.array([fills.get(name, math.nan) for name in numeric], dtype=np.float64)


def _linear_fold(
    pipeline: Pipeline, numeric: list[str], plain: list[str], labels: list[str]
) -> tuple[np.ndarray, float]:
    """Fold elapsed time, MinMax scaling and the Lasso into weights over the design.

    ``scaled_j = x_j * scale_j + min_j`` and ``y = coef . scaled + intercept``, so
    ``y = (coef * scale) . x + (intercept + coef . min)``; an elapsed-time column
    ``ref - var`` spreads its weight over its two raw columns.
    """
    (scaler,) = _steps_of(pipeline, MinMaxScaler)
    (model,) = _steps_of(pipeline, Lasso)
    if scaler.clip:
        raise UnsupportedPipelineError("MinMaxScaler(clip=True) is not linear")
    elapsed = {
        name: transformer.reference_variable
        for transformer in _steps_of(pipeline, TemporalVariableTransformer)
        for name in transformer.variables
    }
    if any(name not in plain or ref not in plain for name, ref in elapsed.items()):
        raise UnsupportedPipelineError("elapsed-time columns must stay plain numbers")
    flagged = {
        f"{name}_na": name
        for indicator in _steps_of(pipeline, AddMissingIndicator)
        for name in indicator.variables_
    }
    coef = np.asarray(model.coef_, dtype=np.float64)
    weights = np.zeros(2 * len(numeric) + len(labels))
    for name, c, scale in zip(scaler.feature_names_in_, coef, scaler.scale_, strict=True):
        weight = float(c * scale)
        if name in labels:
            weights[2 * len(numeric) + labels.index(name)] += weight
        elif name in elapsed:
            weights[numeric.index(elapsed[name])] += weight
            weights[numeric.index(name)] -= weight
        elif name in numeric:
            weights[numeric.index(name)] += weight
        elif flagged.get(name) in numeric:
            weights[len(numeric) + numeric.index(flagged[name])] += weight
        else:
            raise UnsupportedPipelineError(
                f"scaled column {name} has no source in the graph"
            )
    bias = float(model.intercept_) + float(np.dot(coef, scaler.min_))
    return weights, bias


def plan_export(pipeline: Pipeline) -> ExportPlan:
    """Read everything the graph needs off the fitted ``pipeline``."""
    check_layout(pipeline)
    (selector,) = _steps_of(pipeline, FeatureSelector)
    (caster,) = _steps_of(pipeline, CategoricalLabelCaster)
    features = list(selector.variables)
    label_set = set(caster.variables)
    labels = [name for name in features if name in label_set]
    numeric = [name for name in features if name not in label_set]
    if not labels or not numeric:
        raise UnsupportedPipelineError("the graph needs both label and numeric columns")
    for indicator in _steps_of(pipeline, AddMissingIndicator):
        if set(indicator.variables_) - set(numeric):
            raise UnsupportedPipelineError(
                "missing flags are translated for numbers only"
            )
    logged, binarized, plain = _numeric_groups(pipeline, numeric)
    ordered = [*logged, *binarized, *plain]
    weights, bias = _linear_fold(pipeline, ordered, plain, labels)
    return ExportPlan(
        features=features,
        logged=logged,
        binarized=binarized,
        plain=plain,
        label_columns=labels,
        numeric_fill=_numeric_fill(pipeline, ordered),
        binarize_threshold=_binarize_thresholds(pipeline, binarized),
        label_codes=_label_codes(pipeline, labels),
        weights=weights,
        bias=bias,
    )


def _constant(name: str, values: Any, dtype: type = np.float64) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _label_block(plan: ExportPlan) -> tuple[list[onnx.NodeProto], list[TensorProto]]:
    """Each label's term of the log-price, as ``{name}__term`` ``[1, N]``, in two lookups.

    One ``LabelEncoder`` maps every label of the ``[len(labels), N]`` input to
    its index in one vocabulary (every column's known texts; an unseen text
    gets the index past the end), and one ``Gather`` reads each column's term
    for that index from a ``[len(labels), len(vocabulary) + 1]`` table (a text
    a column never knew, or an unseen one, gets that column's default). Two
    nodes whatever the number of columns, where a table per column took a
    ``Split`` of the text input (copying every string) and one encoder each.
    The terms are then split into rows (doubles) for the final ``Sum``.
    """
    labels = plan.label_columns
    tables = [plan.label_contributions(name) for name in labels]
    vocabulary = sorted(set().union(*(table.codes for table in tables)))
    width = len(vocabulary) + 1
    terms = np.array(
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
        node("Gather", ["label_terms_table", "label_cells"], ["label_terms"], axis=0),
        node(
            "Split",
            ["label_terms", "label_rows"],
            [f"{name}__term" for name in labels],
            axis=0,
        )
        if len(labels) > 1
        else node("Identity", ["label_terms"], [f"{labels[0]}__term"]),
    ]
    constants = [
        _constant("label_terms_table", terms.reshape(-1)),
        _constant(
            "label_table_offsets",
            (np.arange(len(labels)) * width).reshape(-1, 1),
            np.int64,
        ),
        _constant("label_rows", [1] * len(labels), np.int64),
    ]
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


def _numeric_nodes(plan: ExportPlan) -> list[onnx.NodeProto]:
    """The numeric columns' share of the log-price, one value per house.

    Log / binarize / keep each group of rows, weight them, and where a value
    was missing take the column's constant ``missing_contributions`` instead
    (its imputed value's term plus its flag's weight); then sum down the
    columns. Every op is element-wise or sums each house's own column of
    terms, so no house's sum depends on the others in the batch.
    """
    node = helper.make_node
    nodes = [node("IsNaN", [NUMBERS_INPUT], ["numeric_missing"])]
    groups = [
        (size, block)
        for size, block in (
            (len(plan.logged), "to_log"),
            (len(plan.binarized), "to_binarize"),
            (len(plan.plain), "plain"),
        )
        if size
    ]
    if len(groups) > 1:
        nodes.append(
            node("Split", [NUMBERS_INPUT, "group_sizes"], [b for _, b in groups], axis=0)
        )
    else:
        nodes.append(node("Identity", [NUMBERS_INPUT], [groups[0][1]]))
    blocks = []
    if plan.logged:
        nodes += _log_nodes(len(plan.logged))
        blocks.append("logged")
    if plan.binarized:
        nodes += [
            node("Greater", ["to_binarize", "binarize_threshold"], ["above_threshold"]),
            node("Cast", ["above_threshold"], ["binarized"], to=TensorProto.DOUBLE),
        ]
        blocks.append("binarized")
    if plan.plain:
        blocks.append("plain")
    return [
        *nodes,
        node("Concat", blocks, ["transformed"], axis=0),
        node("Mul", ["transformed", "numeric_weights"], ["weighted"]),
        node(
            "Where",
            ["numeric_missing", "missing_contributions", "weighted"],
            ["numeric_terms"],
        ),
        node("ReduceSum", ["numeric_terms", "zero"], ["numeric_sum"], keepdims=0),
    ]


def build_model(plan: ExportPlan, *, doc_string: str = "") -> onnx.ModelProto:
    """The ONNX model that computes ``plan`` (its contract: the module docstring)."""
    sizes = [len(plan.logged), len(plan.binarized), len(plan.plain)]
    labels = plan.label_columns
    label_nodes, label_constants = _label_block(plan) if labels else ([], [])
    initializers = [
        _constant("group_sizes", [size for size in sizes if size], np.int64),
        _constant("binarize_threshold", plan.binarize_threshold.reshape(-1, 1)),
        _constant(
            "numeric_weights", plan.weights[: len(plan.numeric_columns)].reshape(-1, 1)
        ),
        _constant("missing_contributions", plan.missing_contributions().reshape(-1, 1)),
        _constant("bias", [plan.bias]),
        _constant("zero", [0], np.int64),
        _constant("one_row_per_house", [-1], np.int64),
        *label_constants,
        *_log_constants(len(plan.logged)),
    ]
    # The terms add up in a fixed order (bias, numbers, each label in turn),
    # each house on its own; the [1, N] sum is flattened to one price per house.
    nodes = [
        *_numeric_nodes(plan),
        *label_nodes,
        helper.make_node(
            "Sum",
            ["bias", "numeric_sum", *(f"{name}__term" for name in labels)],
            ["log_price_row"],
        ),
        helper.make_node(
            "Reshape", ["log_price_row", "one_row_per_house"], [OUTPUT_NAME]
        ),
    ]
    inputs = [
        helper.make_tensor_value_info(
            NUMBERS_INPUT, TensorProto.DOUBLE, [len(plan.numeric_columns), "N"]
        ),
        *(
            [
                helper.make_tensor_value_info(
                    LABELS_INPUT, TensorProto.STRING, [len(labels), "N"]
                )
            ]
            if labels
            else []
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "house_price",
        inputs,
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, ["N"])],
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
    helper.set_model_props(
        model,
        {
            FEATURES_KEY: ",".join(plan.features),
            NUMBERS_KEY: ",".join(plan.numeric_columns),
            LABELS_KEY: ",".join(labels),
        },
    )
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
