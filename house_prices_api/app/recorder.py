"""What each answered batch leaves behind: its metrics and its rows in the prediction log.

The request path only counts its rows and hands the batch over
(``submit``); one thread per worker does the rest: per-field counts,
the price histogram and the log's batched inserts. The hand-over is
bounded in rows, not requests (``PREDICTION_LOG_QUEUE_ROWS``): a batch
that does not fit is dropped and counted, so a slow or absent database
never grows memory. A failing insert keeps its rows (up to the same bound)
and is retried with a growing pause; what does not fit is dropped and
counted. ``close`` (the lifespan's end, on SIGTERM) writes what is left.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.log_store import insert_rows
from app.metrics import ServiceMetrics
from app.training_snapshot import MISSING, TrainingSnapshot, fold
from regression_model import HouseFeatures, PredictionResult

BATCH_ROWS = 500
FLUSH_INTERVAL_S = 0.5
MAX_BACKOFF_S = 30.0
WARN_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Answered:
    """One answered batch, as the request path hands it over."""

    request_id: str
    answered_at: datetime
    rows: Sequence[Any]
    result: PredictionResult
    logged: bool


@dataclass(slots=True)
class FlushRequest:
    """Asks the writer to write what it holds now; ``done`` is set once it tried."""

    done: threading.Event = field(default_factory=threading.Event)


class Stop:
    """Asks the writer to write what it holds and end."""


class RateLimitedWarning:
    """Logs a problem at most once per interval, with how often it happened since."""

    def __init__(self, interval: float = WARN_INTERVAL_S) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._since = 0

    def __call__(self, message: str) -> None:
        self._since += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            logger.warning("{} ({} times since the last warning)", message, self._since)
            self._last, self._since = now, 0


def accepted_names() -> frozenset[str]:
    """Every key a row may use for a feature (names and aliases): all the log keeps."""
    names: set[str] = set()
    for name, info in HouseFeatures.model_fields.items():
        names.add(name)
        if info.serialization_alias:
            names.add(info.serialization_alias)
    return frozenset(names)


class PredictionRecorder:
    """Records answered batches off the request path: one queue, one thread."""

    def __init__(
        self,
        *,
        metrics: ServiceMetrics | None,
        engine: Engine | None,
        snapshot: TrainingSnapshot,
        max_rows: int,
        sample_rate: float,
    ) -> None:
        self.metrics = metrics
        self.engine = engine
        self.snapshot = snapshot
        self.max_rows = max_rows
        self.sample_rate = sample_rate
        self._names = accepted_names()
        self._queue: queue.SimpleQueue[Answered | FlushRequest | Stop] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._queued_rows = 0
        self._pending: list[dict[str, Any]] = []
        self._retry_at = 0.0
        self._backoff = 0.0
        self._warn_full = RateLimitedWarning()
        self._warn_db = RateLimitedWarning()
        self._thread = threading.Thread(
            target=self._run, name="prediction-recorder", daemon=True
        )
        self._count_rows: Callable[[int, int], None] = self._rows_counter()

    def start(self) -> None:
        """Start the writer thread (in the worker, after gunicorn forked it)."""
        self._thread.start()

    def submit(
        self, request_id: str, rows: Sequence[Any], result: PredictionResult
    ) -> None:
        """Count the rows; hand the batch to the thread, or drop it if it does not fit."""
        predictions = result["predictions"]
        priced = len(predictions) - predictions.count(None)
        self._count_rows(priced, len(predictions) - priced)
        logged = self.engine is not None and (
            self.sample_rate >= 1 or random.random() < self.sample_rate
        )
        if self.metrics is None and not logged:
            return
        size = len(rows)
        with self._lock:
            fits = self._queued_rows + size <= self.max_rows
            if fits:
                self._queued_rows += size
        if not fits:
            if logged:
                self._drop(size, "queue_full")
            self._warn_full("prediction log queue is full; a batch was not recorded")
            return
        self._queue.put(Answered(request_id, datetime.now(UTC), rows, result, logged))

    def flush(self, timeout: float) -> bool:
        """Write what is queued now; False if that did not finish within ``timeout``."""
        request = FlushRequest()
        self._queue.put(request)
        return request.done.wait(timeout)

    def close(self, timeout: float) -> None:
        """Write what is left and stop the thread, waiting at most ``timeout`` seconds."""
        self._queue.put(Stop())
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("prediction log: writer still busy after {} s", timeout)

    def _rows_counter(self) -> Callable[[int, int], None]:
        if self.metrics is None:
            return lambda _priced, _refused: None
        priced_rows = self.metrics.rows.labels("priced")
        refused_rows = self.metrics.rows.labels("refused")

        def count(priced: int, refused: int) -> None:
            if priced:
                priced_rows.inc(priced)
            if refused:
                refused_rows.inc(refused)

        return count

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=FLUSH_INTERVAL_S)
            except queue.Empty:
                self._write()
                continue
            if isinstance(item, Stop):
                self._write(now=True, last=True)
                return
            if isinstance(item, FlushRequest):
                self._write(now=True)
                item.done.set()
                continue
            with self._lock:
                self._queued_rows -= len(item.rows)
            try:
                self._record(item)
            except Exception:
                logger.exception("prediction recorder: a batch could not be recorded")
            if len(self._pending) >= BATCH_ROWS:
                self._write()

    def _record(self, item: Answered) -> None:
        if self.metrics is not None:
            self._count_fields(item)
        if item.logged:
            self._pending.extend(self._log_rows(item))

    def _count_fields(self, item: Answered) -> None:
        metrics = self.metrics
        assert metrics is not None
        result = item.result
        for name, count in Counter(error["field"] for error in result["errors"]).items():
            metrics.row_errors.labels(name).inc(count)
        imputed = Counter(name for entry in result["imputed"] for name in entry["fields"])
        for name, count in imputed.items():
            metrics.imputed.labels(name).inc(count)
        unseen: Counter[str] = Counter()
        seen_labels = self.snapshot.seen_labels
        for row, price in zip(item.rows, result["predictions"], strict=False):
            if price is None:
                continue
            metrics.predicted_price.observe(price)
            for name, seen in seen_labels.items():
                value = row.get(name)
                if value is None:
                    continue
                folded = fold(value)
                if folded not in seen and folded not in MISSING:
                    unseen[name] += 1
        for name, count in unseen.items():
            metrics.unseen_labels.labels(name).inc(count)

    def _log_rows(self, item: Answered) -> list[dict[str, Any]]:
        result = item.result
        errors: dict[int, list[dict[str, str]]] = {}
        for error in result["errors"]:
            errors.setdefault(error["row"], []).append(
                {"field": error["field"], "message": error["message"]}
            )
        imputed = {entry["row"]: entry["fields"] for entry in result["imputed"]}
        names = self._names
        return [
            {
                "request_id": item.request_id,
                "row": index,
                "created_at": item.answered_at,
                "model_version": result["version"],
                "features": (
                    {key: value for key, value in row.items() if key in names}
                    if isinstance(row, dict)
                    else None
                ),
                "price": price,
                "errors": errors.get(index),
                "imputed": imputed.get(index),
            }
            for index, (row, price) in enumerate(
                zip(item.rows, result["predictions"], strict=False)
            )
        ]

    def _write(self, *, now: bool = False, last: bool = False) -> None:
        """Insert the pending rows; on failure keep them (bounded) and pause, then retry.

        ``now`` ignores the pause (a flush); ``last`` drops what still fails
        (the thread is ending).
        """
        if not self._pending or self.engine is None:
            return
        if not now and time.monotonic() < self._retry_at:
            return
        try:
            insert_rows(self.engine, self._pending)
        except (SQLAlchemyError, OSError) as error:
            self._backoff = min(max(1.0, self._backoff * 2), MAX_BACKOFF_S)
            self._retry_at = time.monotonic() + self._backoff
            self._warn_db(f"prediction log: insert failed ({type(error).__name__})")
            excess = len(self._pending) if last else len(self._pending) - self.max_rows
            if excess > 0:
                del self._pending[:excess]
                self._drop(excess, "database")
            return
        if self.metrics is not None:
            self.metrics.log_written.inc(len(self._pending))
        self._pending.clear()
        self._backoff = 0.0

    def _drop(self, rows: int, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.log_dropped.labels(reason).inc(rows)
