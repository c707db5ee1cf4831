"""What each answered batch leaves behind: its metrics and its rows in the prediction log.

The request path counts the batch in the metrics itself (rows by outcome,
errors and imputed values by field, unseen labels, the price histogram: a
few dictionary look-ups and in-memory increments per row, cheaper than
handing them over) and, when the batch is logged, appends it to a list
(``submit``); one thread per worker writes the log in batched inserts.
That thread shares the GIL with the event loop, so it wakes every
``FLUSH_INTERVAL_S`` (or once ``BATCH_ROWS`` rows wait), not per
request, and works in pieces of ``RECORD_CHUNK`` batches: often enough
that each wake holds the GIL briefly and a batch's objects die young (few
of the collector's full passes), seldom enough that one insert carries
many rows. The hand-over is
bounded in rows, not requests (``PREDICTION_LOG_QUEUE_ROWS``): a batch
that does not fit is dropped and counted, so a slow or absent database
never grows memory. A failing insert keeps its rows (up to the same bound)
and is retried with a growing pause; what does not fit is dropped and
counted. ``close`` (the lifespan's end, on SIGTERM) writes what is left.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.log_store import LoggedRow, LogWriter
from app.metrics import ServiceMetrics
from app.training_snapshot import MISSING, TrainingSnapshot, fold
from regression_model import HouseFeatures, PredictionResult

BATCH_ROWS = 1000
# Batches recorded between two hand-overs of the GIL to the event loop.
RECORD_CHUNK = 32
FLUSH_INTERVAL_S = 0.05
MAX_BACKOFF_S = 30.0
WARN_INTERVAL_S = 60.0
# Raw labels remembered per field with their verdict (seen or not), at most.
LABEL_MEMO_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Answered:
    """One answered batch, as the request path hands it over."""

    request_id: str
    answered_at: datetime
    rows: Sequence[Any]
    result: PredictionResult


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
    """Records answered batches off the request path: one list, one thread."""

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
        self._writer = LogWriter(engine) if engine is not None else None
        self._lock = threading.Lock()
        self._waiting: list[Answered | FlushRequest | Stop] = []
        self._queued_rows = 0
        self._wake = threading.Event()
        # Woken before the queue can fill, however small PREDICTION_LOG_QUEUE_ROWS is.
        self._wake_rows = min(BATCH_ROWS, max(1, max_rows // 2))
        self._pending: list[LoggedRow] = []
        self._unseen_memo: dict[str, dict[Any, bool]] = {
            name: {} for name in snapshot.seen_labels
        }
        self._memo_size = 0
        self._retry_at = 0.0
        self._backoff = 0.0
        self._warn_full = RateLimitedWarning()
        self._warn_db = RateLimitedWarning()
        self._thread = threading.Thread(
            target=self._run, name="prediction-recorder", daemon=True
        )
        # Looked up once: every request adds to one of them.
        self._priced_rows = None if metrics is None else metrics.rows.labels("priced")
        self._refused_rows = None if metrics is None else metrics.rows.labels("refused")

    def start(self) -> None:
        """Start the log's writer thread, if the log is on (after gunicorn forked)."""
        if self.engine is not None:
            self._thread.start()

    def submit(
        self, request_id: str, rows: Sequence[Any], result: PredictionResult
    ) -> None:
        """Count the batch; if logged, queue it for the thread, or drop it if full."""
        if self.metrics is not None:
            try:
                self._count(rows, result)
            except Exception:
                logger.exception("prediction recorder: a batch could not be counted")
        logged = self.engine is not None and (
            self.sample_rate >= 1 or random.random() < self.sample_rate
        )
        if not logged:
            return
        size = len(rows)
        item = Answered(request_id, datetime.now(UTC), rows, result)
        with self._lock:
            fits = self._queued_rows + size <= self.max_rows
            if fits:
                self._queued_rows += size
                self._waiting.append(item)
            full = self._queued_rows >= self._wake_rows
        if full:
            self._wake.set()
        if not fits:
            self._drop(size, "queue_full")
            self._warn_full("prediction log queue is full; a batch was not logged")

    def flush(self, timeout: float) -> bool:
        """Write what is queued now; False if that did not finish within ``timeout``."""
        if not self._thread.is_alive():
            return True
        request = FlushRequest()
        self._hand_over(request)
        return request.done.wait(timeout)

    def close(self, timeout: float) -> None:
        """Write what is left and stop the thread, waiting at most ``timeout`` seconds."""
        if not self._thread.is_alive():
            return
        self._hand_over(Stop())
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("prediction log: writer still busy after {} s", timeout)

    def _hand_over(self, item: FlushRequest | Stop) -> None:
        with self._lock:
            self._waiting.append(item)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            with self._lock:
                items, self._waiting = self._waiting, []
                self._queued_rows -= sum(
                    len(item.rows) for item in items if isinstance(item, Answered)
                )
            answered: list[Answered] = []
            for item in items:
                if isinstance(item, Answered):
                    answered.append(item)
                    if len(answered) >= RECORD_CHUNK:
                        self._record(answered)
                        answered = []
                        # Hands the GIL to the event loop between chunks, so a
                        # large drain does not hold requests up in one piece.
                        time.sleep(0)
                    continue
                self._record(answered)
                answered = []
                if isinstance(item, Stop):
                    self._write(now=True, last=True)
                    return
                self._write(now=True)
                item.done.set()
            self._record(answered)
            self._write()
            self._trim()

    def _record(self, items: Sequence[Answered]) -> None:
        for item in items:
            try:
                self._pending.extend(self._log_rows(item))
            except Exception:
                logger.exception("prediction recorder: a batch could not be logged")

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

    def _log_rows(self, item: Answered) -> list[LoggedRow]:
        """The item's rows as ``LogWriter`` takes them."""
        writer = self._writer
        assert writer is not None
        result = item.result
        errors: dict[int, list[dict[str, str]]] = {}
        for error in result["errors"]:
            errors.setdefault(error["row"], []).append(
                {"field": error["field"], "message": error["message"]}
            )
        imputed = {entry["row"]: entry["fields"] for entry in result["imputed"]}
        intervals = result.get("intervals")
        created = writer.timestamp_text(item.answered_at)
        version = result["version"]
        lines: list[LoggedRow] = []
        for index, (row, price) in enumerate(
            zip(item.rows, result["predictions"], strict=False)
        ):
            interval = intervals[index] if intervals is not None else None
            lower, upper = interval if interval is not None else (None, None)
            lines.append(
                (
                    item.request_id,
                    index,
                    created,
                    version,
                    self._features(row),
                    price,
                    lower,
                    upper,
                    errors.get(index),
                    imputed.get(index),
                )
            )
        return lines

    def _features(self, row: Any) -> dict[str, Any] | None:
        """The row's feature values: keys no feature has (a client's extras) left out."""
        if not isinstance(row, dict):
            return None
        if row.keys() <= self._names:
            return row
        return {key: value for key, value in row.items() if key in self._names}

    def _write(self, *, now: bool = False, last: bool = False) -> None:
        """Insert the pending rows; on failure keep them (bounded) and pause, then retry.

        ``now`` ignores the pause (a flush); ``last`` drops what still fails
        (the thread is ending).
        """
        if not self._pending or self._writer is None:
            return
        if not now and time.monotonic() < self._retry_at:
            return
        try:
            self._writer.insert(self._pending)
        except (SQLAlchemyError, OSError) as error:
            self._backoff = min(max(1.0, self._backoff * 2), MAX_BACKOFF_S)
            self._retry_at = time.monotonic() + self._backoff
            self._warn_db(f"prediction log: insert failed ({type(error).__name__})")
            if last:
                self._drop(len(self._pending), "database")
                self._pending.clear()
            return
        if self.metrics is not None:
            self.metrics.log_written.inc(len(self._pending))
        self._pending.clear()
        self._backoff = 0.0

    def _trim(self) -> None:
        """Drop the oldest rows a failing database left beyond ``max_rows``."""
        excess = len(self._pending) - self.max_rows
        if excess > 0:
            del self._pending[:excess]
            self._drop(excess, "database")

    def _drop(self, rows: int, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.log_dropped.labels(reason).inc(rows)
