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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class Scorer(Protocol):
    """Scores validated records (Kaggle names, ``None`` for missing)."""

    @property
    def features(self) -> list[str]:
        """The columns a record must carry, in the model's order."""
        ...

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """One natural-log price per record, as float64."""
        ...


class PipelineScorer:
    """The fitted scikit-learn pipeline, fed a DataFrame: the reference scorer."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        selector = pipeline.steps[0][1]
        self._features = list(selector.variables)

    @property
    def features(self) -> list[str]:
        return self._features

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        import pandas as pd  # noqa: PLC0415 - keeps pandas off the import path

        frame = pd.DataFrame.from_records(list(records), columns=self._features)
        return np.asarray(self.pipeline.predict(frame), dtype=np.float64)


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


class OnnxScorer:
    """The exported graph run by onnxruntime, fed one plain array per column.

    No pandas and no scikit-learn: records become NumPy arrays (labels as
    text, ``""`` for missing; numbers as float64, NaN for missing) and one
    ``InferenceSession.run`` scores the batch. One thread each for intra- and
    inter-op work: rows are few per call and the service scales by processes.
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
        inputs = self._session.get_inputs()
        self._features = [node.name for node in inputs]
        self._labels = frozenset(
            node.name for node in inputs if node.type == "tensor(string)"
        )
        self._outputs = [self._session.get_outputs()[0].name]

    @property
    def features(self) -> list[str]:
        return self._features

    def columns(self, records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``records``: one array per column."""
        columns = {}
        for name in self._features:
            values = [record.get(name) for record in records]
            if name in self._labels:
                columns[name] = np.array(
                    [
                        value if type(value) is str else label_text(value)
                        for value in values
                    ],
                    dtype=object,
                )
            else:
                columns[name] = np.array(values, dtype=np.float64)
        return columns

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """One log-price per record; a record the graph cannot price raises.

        The graph answers NaN or an infinity where the pipeline raises (a
        required number missing, a grade without a mapping, a non-positive
        number under a log), so this raises ``ValueError`` there too.
        """
        if not records:
            return np.empty(0, dtype=np.float64)
        return self.score_columns(self.columns(records))

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-prices for inputs already laid out as the graph's column arrays.

        For callers that hold columnar data (and for measuring the graph
        alone); raises ``ValueError`` naming the rows the graph cannot price.
        """
        log_prices = np.asarray(self._session.run(self._outputs, dict(columns))[0])
        unpriced = np.flatnonzero(~np.isfinite(log_prices))
        if unpriced.size:
            raise ValueError(
                f"rows {unpriced[:10].tolist()} cannot be priced: a required value is "
                "missing or a value lies outside the validated domain"
            )
        return log_prices.astype(np.float64, copy=False)
