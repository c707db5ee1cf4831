"""The scoring step: clean records in, log-prices out, behind one interface.

Prediction is validate -> score -> exp. Only the middle step depends on how
the model is executed, so it is one small protocol: the fitted scikit-learn
pipeline on a DataFrame is the reference scorer; other scorers (an exported
graph fed plain column arrays) can replace it without touching validation
or the response.
"""

from __future__ import annotations

from collections.abc import Sequence
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
