"""``create_app()``: the one way to build the service.

``bin/start`` runs gunicorn's arbiter, whose uvicorn workers
(``app.workers.ServiceWorker``, HTTP protocol ``app.http_protocol``) each
call ``app.main:create_app()``. Nothing happens at import: settings are
read, logging configured and middleware installed when the factory runs,
and the model is loaded in the lifespan handler, before the worker accepts
its first request.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from loguru import logger

from app import __version__
from app.api import docs, feedback, health, home, inference, predict
from app.api import metrics as metrics_api
from app.api.auth import API_KEY_HEADER, UNAUTHORIZED_RESPONSE, require_api_key
from app.api.feedback import close_feedback_engine
from app.config import Settings
from app.errors import install_error_handlers
from app.log_client import LogClient
from app.logs import configure_logging
from app.metrics import (
    MetricsMiddleware,
    ModelAgeCollector,
    ServiceMetrics,
    model_age_start,
)
from app.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    UnexpectedErrorMiddleware,
)
from app.model import load_served_model
from app.openapi import document_request_models
from app.prediction_pool import create_prediction_pool
from app.recorder import PredictionRecorder
from app.schemas import BODY_TIMEOUT_RESPONSE
from app.strict_json import StrictJSONRoute
from app.training_snapshot import TrainingSnapshot, load_training_snapshot
from regression_model import LoadedModel

API_PREFIX = "/api/v1"
# Within gunicorn's graceful timeout (20 s by default): the log's last rows.
LOG_FLUSH_TIMEOUT_S = 10.0
# FastAPI's native OpenTelemetry, all three signals off (see Settings.opentelemetry).
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
DESCRIPTION = """\
Sale-price predictions for houses in Ames, Iowa, from the versioned
`ames-house-price-model` package.

Send rows in Kaggle's column names (`1stFlrSF`, `GrLivArea`, ...), `null` for
a missing value. Every row gets a slot in `predictions`, in input order: a
price, or `null` with the reasons in `errors`. `GrLivArea`, `OverallQual`
and `Neighborhood` are required; other missing fields are imputed and listed
in `imputed`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load and self-test the model before serving; if that fails, so does start-up.

    ``load_served_model`` raises ``ModelLoadError`` naming the file and the
    failed check; raised here, it makes the worker log it and exit with
    status 3 before it takes a request, and gunicorn's arbiter then exits 3
    too, so a wrong model is never served. It runs on the event loop,
    although it blocks: uvicorn serves nothing until start-up is complete,
    so there is nothing to keep responsive, and a thread started just for it
    would stay in the worker, holding memory.
    """
    settings: Settings = app.state.settings
    model = load_served_model(settings.scorer_backend)
    app.state.served_model = model
    recorder = start_recorder(app, settings, model)
    # What start-up built (the model, the app, imported modules) lives as long
    # as the worker: kept out of the garbage collector's full passes, which
    # otherwise walk it all each time serving allocates enough (gc.freeze).
    gc.collect()
    gc.freeze()
    yield
    logger.info("shutting down")
    app.state.prediction_pool.shutdown(wait=False)
    if recorder is not None:
        recorder.close(LOG_FLUSH_TIMEOUT_S)
    if app.state.log_writer is not None:
        app.state.log_writer.stop(LOG_FLUSH_TIMEOUT_S)
    close_feedback_engine(app)


def start_recorder(
    app: FastAPI, settings: Settings, model: LoadedModel
) -> PredictionRecorder | None:
    """The worker's recorder of per-row metrics and the log, if either is on."""
    metrics: ServiceMetrics | None = app.state.metrics
    if metrics is None and not settings.prediction_log:
        return None
    snapshot: TrainingSnapshot | None = None
    if metrics is not None:
        snapshot = load_training_snapshot()
        metrics.serve_version(model.version, model.backend)
        since = model_age_start(model, snapshot.data_end)
        app.state.model_age = ModelAgeCollector(since)
    recorder = PredictionRecorder(
        writer=connect_writer(app, settings, snapshot),
        sample_rate=settings.prediction_log,
    )
    app.state.recorder = recorder
    return recorder


def connect_writer(
    app: FastAPI, settings: Settings, snapshot: TrainingSnapshot | None
) -> LogClient:
    """The worker's line to the log's writer: ``bin/start``'s, or one of its own.

    Under ``bin/start`` the arbiter runs one writer process for all workers
    and names its socket (``PREDICTION_LOG_SOCKET``). An app built any other
    way (in-process tests, a bare ``uvicorn``) runs the same writer in a
    thread, and only then imports SQLAlchemy. The schema is Alembic's job
    either way (``python -m app.migrate``).
    """
    metrics: ServiceMetrics | None = app.state.metrics
    path = settings.prediction_log_socket
    if path is None:
        from app.log_sidecar import start_in_thread  # noqa: PLC0415 - see docstring

        writer = start_in_thread(settings, metrics, snapshot)
        app.state.log_writer = writer
        path = writer.path
    return LogClient(
        path,
        max_rows=settings.prediction_log_queue_rows,
        dropped=metrics.log.dropped if metrics is not None else None,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app from ``settings`` (read from the environment when not given)."""
    settings = settings or Settings()
    write_access = configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="House prices API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
        # app.api.docs serves both pages with local assets instead of a CDN's.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.prediction_pool = create_prediction_pool()
    app.state.metrics = ServiceMetrics() if settings.metrics else None
    app.state.recorder = None
    app.state.log_writer = None
    app.state.feedback_engine = None
    # Keys guard predictions and feedback; health, docs and the home page stay open.
    key_check = [Depends(require_api_key)] if settings.api_keys else []
    key_responses = UNAUTHORIZED_RESPONSE if settings.api_keys else {}
    predict.add_predict_route(
        app.router,
        prefix=API_PREFIX,
        dependencies=key_check,
        responses=BODY_TIMEOUT_RESPONSE | key_responses,
    )
    app.router.add_api_route(
        f"{API_PREFIX}/feedback",
        feedback.feedback,
        methods=["POST"],
        tags=["monitoring"],
        response_model=feedback.FeedbackResponse,
        dependencies=key_check,
        responses={**BODY_TIMEOUT_RESPONSE, **key_responses, **feedback.RESPONSES},
        route_class_override=StrictJSONRoute,
    )
    # After the prediction route, which most requests are for: routes match in order.
    included = [
        (home.router, ""),
        (health.router, API_PREFIX),
        (inference.build_router(key_check), ""),
        (docs.router, ""),
    ]
    if settings.metrics:
        included.append((metrics_api.router, ""))
    for router, prefix in included:
        app.include_router(router, prefix=prefix)
    document_request_models(app, predict.REQUEST_MODELS)
    install_error_handlers(app)
    # Added innermost first: a request meets the metrics (when on), RequestContext,
    # CORS, the 500 guard, then the size cap.
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(UnexpectedErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", REQUEST_ID_HEADER, API_KEY_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(RequestContextMiddleware, write_access=write_access)
    if app.state.metrics is not None:
        templates = {
            id(route): prefix + route.path
            for router, prefix in included
            for route in router.routes
            if isinstance(route, APIRoute)
        }
        app.add_middleware(
            MetricsMiddleware, metrics=app.state.metrics, templates=templates
        )
    return app
