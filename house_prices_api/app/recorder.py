"""What each answered batch leaves behind: its metrics and its rows in the prediction log.

The request path counts the batch in the metrics itself (rows by outcome,
errors and imputed values by field, unseen labels, the price histogram: a
few dictionary look-ups and in-memory increments per row, cheaper than
handing them over) and, when the batch is logged (``PREDICTION_LOG``: all,
or a sampling rate), encodes it as one line (``app.log_wire``) and hands
it to the log's writer through ``LogClient``, without waiting. The writer
(``app.log_sidecar``) decodes, batches and inserts, in a process of its
own under ``bin/start``: the worker holds no thread, no database
connection and no SQLAlchemy for the log, so the log's work neither
shares the worker's GIL nor its core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from loguru import logger

from app.log_client import LogClient
from app.log_wire import encode_batch
from app.metrics import ServiceMetrics
from app.training_snapshot import MISSING, TrainingSnapshot, fold
from regression_model import HouseFeatures, PredictionResult

# Raw labels remembered per field with their verdict (seen or not), at most.
LABEL_MEMO_SIZE = 10_000


def accepted_names() -> frozenset[str]:
    """Every key a row may use for a feature (names and aliases): all the log keeps."""
    names: set[str] = set()
    for name, info in HouseFeatures.model_fields.items():
        names.add(name)
        if info.serialization_alias:
            names.add(info.serialization_alias)
    return frozenset(names)


class PredictionRecorder:
    """Counts answered batches and hands the logged ones to the log's writer."""

    def __init__(
        self,
        *,
        metrics: ServiceMetrics | None,
        log: LogClient | None,
        snapshot: TrainingSnapshot,
        sample_rate: float,
    ) -> None:
        self.metrics = metrics
        self.log = log
        self.snapshot = snapshot
        self.sample_rate = sample_rate
        self._names = accepted_names()
        self._unseen_memo: dict[str, dict[Any, bool]] = {
            name: {} for name in snapshot.seen_labels
        }
        self._memo_size = 0
        # Looked up once: every request adds to one of them.
        self._priced_rows = None if metrics is None else metrics.rows.labels("priced")
        self._refused_rows = None if metrics is None else metrics.rows.labels("refused")

    def submit(
        self, request_id: str, rows: Sequence[Any], result: PredictionResult
    ) -> None:
        """Count the batch; if it is logged, send it to the log's writer."""
        if self.metrics is not None:
            try:
                self._count(rows, result)
            except Exception:
                logger.exception("prediction recorder: a batch could not be counted")
        if self.log is None or (
            self.sample_rate < 1 and random.random() >= self.sample_rate
        ):
            return
        try:
            features = [self._features(row) for row in rows]
            line = encode_batch(request_id, time.time(), features, result)
        except Exception:
            logger.exception("prediction recorder: a batch could not be logged")
            return
        self.log.send(line, len(rows))

    def flush(self, timeout: float) -> bool:
        """Have the writer write what was logged so far; False if not in ``timeout``."""
        return self.log is None or self.log.flush(timeout)

    def close(self, timeout: float) -> None:
        """Send what is still queued to the writer (the worker is stopping)."""
        if self.log is not None:
            self.log.close(timeout)

    def _count(self, rows: Sequence[Any], result: PredictionResult) -> None:
        """Add one answered batch to the metrics: rows, errors, gaps, labels, prices."""
        metrics = self.metrics
        assert metrics is not None
        assert self._priced_rows is not None
        assert self._refused_rows is not None
        predictions = result["predictions"]
        priced = len(predictions) - predictions.count(None)
        if priced:
            self._priced_rows.inc(priced)
        if priced < len(predictions):
            self._refused_rows.inc(len(predictions) - priced)
        for error in result["errors"]:
            metrics.row_errors.labels(error["field"]).inc()
        for entry in result["imputed"]:
            for name in entry["fields"]:
                metrics.imputed.labels(name).inc()
        observe = metrics.predicted_price.observe
        for row, price in zip(rows, predictions, strict=False):
            if price is not None:
                observe(price)
                for name in self._unseen_labels(row):
                    metrics.unseen_labels.labels(name).inc()

    def _unseen_labels(self, row: dict[str, Any]) -> list[str]:
        """The label fields of a priced row whose label training never saw.

        Clients send the same few raw labels again and again: each one's
        verdict is remembered per field (up to ``LABEL_MEMO_SIZE`` in all),
        keyed by the text itself, or by type and value for a number, so that
        ``True``, ``1`` and ``1.0`` keep their own verdicts. Only priced rows
        come here, so every value is text or a number (hashable).
        """
        fields = []
        for name, seen in self.snapshot.seen_labels.items():
            value = row.get(name)
            if value is None:
                continue
            memo = self._unseen_memo[name]
            key = value if type(value) is str else (type(value), value)
            unseen = memo.get(key)
            if unseen is None:
                folded = fold(value)
                unseen = folded not in seen and folded not in MISSING
                if self._memo_size < LABEL_MEMO_SIZE:
                    memo[key] = unseen
                    self._memo_size += 1
            if unseen:
                fields.append(name)
        return fields

    def _features(self, row: Any) -> dict[str, Any] | None:
        """The row's feature values: keys no feature has (a client's extras) left out."""
        if not isinstance(row, dict):
            return None
        if row.keys() <= self._names:
            return row
        return {key: value for key, value in row.items() if key in self._names}
