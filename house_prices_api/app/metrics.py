"""Prometheus metrics: what each worker counts, and one scrape that adds them all up.

``bin/start`` gives every start a fresh ``PROMETHEUS_MULTIPROC_DIR``: each
worker's counters live in memory-mapped files there, ``/metrics`` sums the
files of every worker (``MultiProcessCollector``), and ``gunicorn.conf.py``
marks a dead worker's files, so the counts add up however many workers
there are. An app built without that variable (in-process tests) counts in
its own registry. A worker counts requests and their latency
(``MetricsMiddleware``); the prediction log's writer, a process of its own
under ``bin/start`` (``app.log_sidecar``), counts every answered batch's
rows (``app.batch_metrics``) and the log's rows written or lost, in the
same folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # the log's writer imports this module and never loads a model
    from regression_model import LoadedModel

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PRICE_BUCKETS = (
    50_000,
    75_000,
    100_000,
    125_000,
    150_000,
    175_000,
    200_000,
    250_000,
    300_000,
    400_000,
    500_000,
    750_000,
)


# Why the prediction log lost rows: a full queue (worker or writer), a failing
# database, or a writer the worker could not reach.
DROP_REASONS = ("queue_full", "database", "writer")


@dataclass(frozen=True)
class LogCounters:
    """The prediction log's own counts, kept by whichever process writes or drops."""

    written: Counter
    dropped: Counter


def log_counters(registry: CollectorRegistry) -> LogCounters:
    """The prediction log's counters in ``registry`` (a worker's, or the writer's)."""
    counters = LogCounters(
        written=Counter(
            "house_prices_prediction_log_written_rows",
            "Rows written to the prediction log.",
            registry=registry,
        ),
        dropped=Counter(
            "house_prices_prediction_log_dropped_rows",
            "Rows the prediction log lost: queue_full, database (failing writes) "
            "or writer (the log's writer could not be reached).",
            ["reason"],
            registry=registry,
        ),
    )
    # Known reasons start at 0, so rates and alerts see them before the first loss.
    for reason in DROP_REASONS:
        counters.dropped.labels(reason)
    return counters


class ServiceMetrics:
    """Every metric the service records, registered in one registry per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "house_prices_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "house_prices_request_duration_seconds",
            "Time from a request's start to its answer, by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "house_prices_rows",
            "Rows sent to /api/v1/predict, by outcome: priced or refused.",
            ["outcome"],
            registry=registry,
        )
        self.row_errors = Counter(
            "house_prices_row_errors",
            "Row errors, by the field named (__row__ for the row as a whole).",
            ["field"],
            registry=registry,
        )
        self.imputed = Counter(
            "house_prices_imputed_values",
            "Missing values filled in with a learned statistic, by field.",
            ["field"],
            registry=registry,
        )
        self.unseen_labels = Counter(
            "house_prices_unseen_labels",
            "Labels in priced rows that the training snapshot never held, by field.",
            ["field"],
            registry=registry,
        )
        self.predicted_price = Histogram(
            "house_prices_predicted_price_dollars",
            "Prices predicted, in dollars.",
            buckets=PRICE_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "house_prices_model_info",
            "The model being served (1 per version and scorer).",
            ["version", "backend"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.log = log_counters(registry)
        self.feedback = Counter(
            "house_prices_feedback",
            "Sale prices reported for priced rows, by the model version that priced "
            "them.",
            ["model_version"],
            registry=registry,
        )
        self.squared_log_error = Counter(
            "house_prices_feedback_squared_log_error",
            "Running sum of (log1p(predicted) - log1p(sold))^2 over feedback; "
            "RMSLE = sqrt(this / house_prices_feedback_total).",
            ["model_version"],
            registry=registry,
        )
        # Known label values start at 0, so rates and alerts see them before
        # the first event (a missing series is not a zero).
        for outcome in ("priced", "refused"):
            self.rows.labels(outcome)

    def serve_version(self, version: str, backend: str) -> None:
        """Mark ``version`` as served; its feedback series start at 0."""
        self.model_info.labels(version, backend).set(1)
        self.feedback.labels(version)
        self.squared_log_error.labels(version)


class ModelAgeCollector(Collector):
    """``house_prices_model_age_seconds``, computed when scraped, from ``since``."""

    def __init__(self, since: datetime) -> None:
        self.since = since

    def collect(self) -> Iterator[Metric]:
        age = datetime.now(UTC) - self.since
        yield GaugeMetricFamily(
            "house_prices_model_age_seconds",
            "Seconds since the model's sources were committed (metadata's "
            "source_commit_time), or, for a model that lacks it, since the end of "
            "the month of the newest sale in its training data.",
            value=age.total_seconds(),
        )


def model_age_start(model: LoadedModel, data_end: datetime) -> datetime:
    """Where the served model's age starts: its source commit time, else ``data_end``.

    Models trained before the metadata recorded that time have no such field
    (``getattr``); the newest training sale is then the best bound.
    """
    committed = getattr(model.metadata.trained_with, "source_commit_time", None)
    return committed if isinstance(committed, datetime) else data_end


def multiproc_dir() -> str | None:
    """The folder the workers' metric files share, or None in a single process."""
    return os.environ.get(MULTIPROC_DIR_ENV) or None


def exposition(metrics: ServiceMetrics, model_age: ModelAgeCollector | None) -> bytes:
    """The text a scrape gets: every worker's counts (or this app's) and the model age."""
    registry = CollectorRegistry()
    folder = multiproc_dir()
    if folder is None:
        registry.register(metrics.registry)
    else:
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    if model_age is not None:
        registry.register(model_age)
    return generate_latest(registry)


class MetricsMiddleware:
    """Counts each request by route template, method and status, and times it.

    The route template (``/api/v1/predict``), never the raw path, keeps the
    label set bounded; a path no route matched is ``unmatched``, a method
    outside HTTP's usual ones ``other``. A route of an included router
    knows only its own path: ``templates`` maps it (by ``id``) to its full
    template. The label children are kept in a dict: a look-up there costs
    less than ``labels()``.
    """

    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, templates: Mapping[int, str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = self.templates.get(id(route)) or str(
                getattr(route, "path", "unmatched")
            )
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            key = (template, method, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    self.metrics.requests.labels(template, method, str(status)),
                    self.metrics.latency.labels(template, method),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
