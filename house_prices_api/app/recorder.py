"""What each answered batch leaves behind: its per-row metrics and its rows in the log.

The request path encodes the batch as one line (``app.log_wire``: its
features without a client's extra keys, prices, errors, imputed fields and
whether the log keeps it, by ``PREDICTION_LOG``: all, off or a sampling
rate) and hands it to the log's writer through ``LogClient``, without
waiting. The writer (``app.log_sidecar``, a process of its own under
``bin/start``) counts it in the per-row metrics (``app.batch_metrics``)
and inserts the logged rows. So a worker holds no thread, no database
connection and no per-row counting for either: one pydantic-core call and
a share of one ``sendmsg`` per batch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from loguru import logger

from app.log_client import LogClient
from app.log_wire import encode_batch
from regression_model import HouseFeatures, PredictionResult


def accepted_names() -> frozenset[str]:
    """Every key a row may use for a feature (names and aliases): all the log keeps."""
    names: set[str] = set()
    for name, info in HouseFeatures.model_fields.items():
        names.add(name)
        if info.serialization_alias:
            names.add(info.serialization_alias)
    return frozenset(names)


class PredictionRecorder:
    """Hands every answered batch to the log's writer, marked logged or not."""

    def __init__(self, *, writer: LogClient, sample_rate: float) -> None:
        self.writer = writer
        self.sample_rate = sample_rate
        self._names = accepted_names()

    @property
    def logging(self) -> bool:
        """Whether any batch is written to the prediction log (``PREDICTION_LOG``)."""
        return self.sample_rate > 0

    def submit(
        self, request_id: str, rows: Sequence[Any], result: PredictionResult
    ) -> None:
        """Send the batch to the writer: counted always, logged as sampled."""
        logged = self.sample_rate >= 1 or random.random() < self.sample_rate
        try:
            features = [self._features(row) for row in rows]
            line = encode_batch(request_id, time.time(), features, result, logged=logged)
        except Exception:
            logger.exception("prediction recorder: a batch could not be encoded")
            return
        self.writer.send(line, len(rows))

    def flush(self, timeout: float) -> bool:
        """Have the writer count and write what was sent so far; False if not in time."""
        return self.writer.flush(timeout)

    def close(self, timeout: float) -> None:
        """Send what is still queued to the writer (the worker is stopping)."""
        self.writer.close(timeout)

    def _features(self, row: Any) -> dict[str, Any] | None:
        """The row's feature values: keys no feature has (a client's extras) left out."""
        if not isinstance(row, dict):
            return None
        if row.keys() <= self._names:
            return row
        return {key: value for key, value in row.items() if key in self._names}
