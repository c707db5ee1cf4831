"""The scoring step: clean records in, log-prices out, behind one interface.

Prediction is validate -> score -> exp. Only the middle step depends on how
the model is executed, so it is one small protocol: the fitted scikit-learn
pipeline on a DataFrame is the reference scorer; other scorers (an exported
graph fed plain column arrays) can replace it without touching validation
or the response.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from regression_model.onnx_contract import (
    DESIGN_OUTPUT,
    LABELS_INPUT,
    NUMBERS_INPUT,
    GraphNames,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class Scorer(Protocol):
    """Scores validated records (Kaggle names, ``None`` for missing).

    A scorer may also offer ``predict_log_price_columns`` (see
    ``ColumnScorer``); ``make_prediction`` then hands it validated columns
    instead of records.
    """

    @property
    def features(self) -> list[str]:
        """The columns a record must carry, in the model's order."""
        ...

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """One natural-log price per record, as float64."""
        ...


class ColumnScorer(Scorer, Protocol):
    """A scorer that also takes its input as columns: one sequence per feature."""

    def predict_log_price_columns(
        self, columns: Mapping[str, Sequence[Any]]
    ) -> np.ndarray:
        """One natural-log price per row of ``columns``, as float64."""
        ...


class PipelineScorer:
    """The fitted scikit-learn pipeline, fed a DataFrame: the reference scorer.

    The preparation steps transform as fitted; the blend at the end is
    computed here from its two fitted models instead of by its ``predict``:
    the Lasso's ``coef . x + intercept`` is summed along each row of a
    C-ordered array (``predict``'s BLAS product sums a row's terms in an
    order that depends on how many rows share the call, so a house's price
    moved in the last bit when a neighbour joined its batch), and the trees
    are scored by their own ``predict``, one house at a time inside it. The
    result is the same sum for every row of every batch, and within 1e-15 of
    the pipeline's ``predict``.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        selector = pipeline.steps[0][1]
        self._features = list(selector.variables)
        self._prepare = pipeline[:-1]
        blend = pipeline.steps[-1][1]
        linear = blend.named_estimators_["linear"]
        self._linear_prepare = linear[:-1]
        self._coef = np.asarray(linear.steps[-1][1].coef_, dtype=np.float64)
        self._intercept = float(linear.steps[-1][1].intercept_)
        self._trees = blend.named_estimators_["trees"]
        weights = [float(weight) for weight in blend.weights]
        self._shares = (weights[0] / sum(weights), weights[1] / sum(weights))

    @property
    def features(self) -> list[str]:
        return self._features

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        import pandas as pd  # noqa: PLC0415 - keeps pandas off the import path

        frame = pd.DataFrame.from_records(list(records), columns=self._features)
        design = self._prepare.transform(frame)
        linear_design = np.ascontiguousarray(
            self._linear_prepare.transform(design), dtype=np.float64
        )
        linear = (linear_design * self._coef).sum(axis=1) + self._intercept
        trees = np.asarray(self._trees.predict(design), dtype=np.float64)
        return finite_log_prices(linear * self._shares[0] + trees * self._shares[1])


def label_text(value: Any) -> str:
    """A label as the exported graph reads it: ``""`` when missing, else its text.

    The same text ``CategoricalLabelCaster`` gives inside the pipeline, so
    ``MSSubClass`` 20, 20.0 and "20" all become "20"; kept here, free of
    pandas, because this module must not import the pipeline's code.
    """
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # NumPy scalars
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def label_texts(values: Sequence[Any]) -> Sequence[str]:
    """``label_text`` of every value; many text, integer and ``None`` values in bulk."""
    if len(values) >= BULK_VALUES:
        kinds = set(map(type, values))
        if kinds <= TEXT:
            return values
        if kinds <= TEXT_INTEGER_OR_NONE:  # hashable, and never equal across kinds
            texts = {value: label_text(value) for value in set(values)}
            return list(map(texts.__getitem__, values))
    return [value if type(value) is str else label_text(value) for value in values]


BULK_VALUES = 64
TEXT = frozenset({str})
TEXT_INTEGER_OR_NONE = frozenset({str, int, type(None)})


def columns_of(
    records: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> dict[str, list[Any]]:
    """Records as one list of values per name; an absent key is a missing value."""
    return {name: [record.get(name) for record in records] for name in names}


class OnnxScorer:
    """The exported graph run by onnxruntime, fed two plain arrays.

    No pandas and no scikit-learn: the number columns become one float64
    array (NaN for missing) and the label columns one array of text (``""``
    for missing), one row per column in the order the graph's metadata
    names, one column per house (``export_onnx``'s contract); one
    ``InferenceSession.run`` scores the batch. One thread each for intra-
    and inter-op work: rows are few per call and the service scales by
    processes.
    """

    def __init__(self, model: Path | str | bytes) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - only this backend needs it

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        source = model if isinstance(model, bytes) else str(model)
        self._session = ort.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )
        names = GraphNames.from_metadata(
            self._session.get_modelmeta().custom_metadata_map
        )
        self._features = list(names.features)
        self._number_names = list(names.numbers)
        self._label_names = list(names.labels)
        inputs = {node.name for node in self._session.get_inputs()}
        expected = {NUMBERS_INPUT} | ({LABELS_INPUT} if self._label_names else set())
        if inputs != expected or not self._number_names:
            raise ValueError(
                f"the graph's inputs {sorted(inputs)} and metadata do not follow "
                f"the contract of two inputs {sorted(expected)} named row by row"
            )
        self._outputs = [self._session.get_outputs()[0].name]
        self._design_names = list(names.design)

    @property
    def features(self) -> list[str]:
        return self._features

    @property
    def number_names(self) -> list[str]:
        """The rows of the ``numbers`` input, in order (from the graph's metadata)."""
        return list(self._number_names)

    @property
    def label_names(self) -> list[str]:
        """The rows of the ``labels`` input, in order (from the graph's metadata)."""
        return list(self._label_names)

    def graph_inputs(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``columns`` (one equally long sequence per feature)."""
        feed = {
            NUMBERS_INPUT: np.array(
                [columns[name] for name in self._number_names], dtype=np.float64
            )
        }
        if self._label_names:
            labels = [columns[name] for name in self._label_names]
            if len(labels[0]) < BULK_VALUES:  # a few rows: one pass over every value
                flat = label_texts(list(chain.from_iterable(labels)))
                texts = np.array(flat, dtype=object).reshape(len(labels), -1)
            else:
                texts = np.array([label_texts(column) for column in labels], dtype=object)
            feed[LABELS_INPUT] = texts
        return feed

    def columns(self, records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``records``: one array per column."""
        return self.graph_inputs(columns_of(records, self._features))

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """One log-price per record; a record the graph cannot price raises.

        The graph answers NaN or an infinity where the pipeline raises (a
        required number missing, a grade without a mapping, a non-positive
        number under a log), so this raises ``ValueError`` there too.
        """
        if not records:
            return np.empty(0, dtype=np.float64)
        return self.score_columns(self.columns(records))

    def predict_log_price_columns(
        self, columns: Mapping[str, Sequence[Any]]
    ) -> np.ndarray:
        """``predict_log_price`` for the same values laid out as one sequence per feature.

        What ``make_prediction`` calls: validation already holds its clean
        values as columns, so no per-row record is built and taken apart again.
        """
        first = columns[self._features[0]] if self._features else ()
        if not len(first):
            return np.empty(0, dtype=np.float64)
        return self.score_columns(self.graph_inputs(columns))

    def predict_log_price_and_design_columns(
        self, columns: Mapping[str, Sequence[Any]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``predict_log_price_columns`` and the design both models read, in one run.

        The design (``[len(design_names), N]``, a second output of the same
        graph) is what ``explain.Explainer`` explains.
        """
        return self.score_columns_and_design(self.graph_inputs(columns))

    @property
    def design_names(self) -> list[str]:
        """The rows of the ``design`` output, in order (from the graph's metadata)."""
        return list(self._design_names)

    def score_columns_and_design(
        self, columns: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``score_columns`` and the design ``[len(design_names), N]``, in one run.

        For callers that hold the graph's inputs and explain the rows too.
        """
        log_price, design = self._session.run(
            [*self._outputs, DESIGN_OUTPUT], dict(columns)
        )
        return finite_log_prices(np.asarray(log_price)), np.asarray(design)

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-prices for inputs already laid out as the graph's column arrays.

        For callers that hold columnar data (and for measuring the graph
        alone); raises ``ValueError`` naming the rows the graph cannot price.
        """
        return finite_log_prices(
            np.asarray(self._session.run(self._outputs, dict(columns))[0])
        )


def finite_log_prices(log_prices: np.ndarray) -> np.ndarray:
    """``log_prices`` as float64, or ``ValueError`` naming the rows without a price.

    A row validation would have refused (a required number missing, a grade
    without a mapping, a non-positive number under a log) comes out of the
    arithmetic as NaN or an infinity; a scorer must refuse it, never return it.
    """
    unpriced = np.flatnonzero(~np.isfinite(log_prices))
    if unpriced.size:
        raise ValueError(
            f"rows {unpriced[:10].tolist()} cannot be priced: a required value is "
            "missing or a value lies outside the validated domain"
        )
    return log_prices.astype(np.float64, copy=False)
