"""The per-row metrics of answered batches: rows by outcome, errors, gaps, labels, prices.

Counted by the log's writer (``app.log_sidecar``) as each batch arrives
from a worker, before it is queued for the database, so the counts do not
depend on the database, and the worker's share of them is the one line it
sends anyway. Requests and their latency are counted by the worker itself
(``MetricsMiddleware``).
"""

from __future__ import annotations

from typing import Any

from app.log_wire import DecodedBatch
from app.metrics import ServiceMetrics
from app.training_snapshot import MISSING, TrainingSnapshot, fold

# Raw labels remembered per field with their verdict (seen or not), at most.
LABEL_MEMO_SIZE = 10_000


class BatchMetrics:
    """Adds each answered batch to ``metrics``, checking labels against ``snapshot``."""

    def __init__(self, metrics: ServiceMetrics, snapshot: TrainingSnapshot) -> None:
        self.metrics = metrics
        self.snapshot = snapshot
        self._unseen_memo: dict[str, dict[Any, bool]] = {
            name: {} for name in snapshot.seen_labels
        }
        self._memo_size = 0
        # Looked up once: every batch adds to one of them.
        self._priced_rows = metrics.rows.labels("priced")
        self._refused_rows = metrics.rows.labels("refused")

    def count(self, batch: DecodedBatch) -> None:
        """Add one batch: rows by outcome, errors and gaps by field, labels, prices."""
        metrics = self.metrics
        prices = batch.prices
        priced = len(prices) - prices.count(None)
        if priced:
            self._priced_rows.inc(priced)
        if priced < len(prices):
            self._refused_rows.inc(len(prices) - priced)
        for error in batch.errors:
            metrics.row_errors.labels(error["field"]).inc()
        for entry in batch.imputed:
            for name in entry["fields"]:
                metrics.imputed.labels(name).inc()
        observe = metrics.predicted_price.observe
        for row, price in zip(batch.features, prices, strict=False):
            if price is not None:
                observe(price)
                if row is not None:
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
