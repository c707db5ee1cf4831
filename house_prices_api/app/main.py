"""``create_app()``: the one way to build the service; uvicorn calls it (``--factory``).

Nothing happens at import: settings are read, logging configured and
middleware installed when the factory runs, and the model is loaded in the
lifespan handler, before the first request is accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from loguru import logger

from app import __version__
from app.api import health, home, predict
from app.api.auth import API_KEY_HEADER, UNAUTHORIZED_RESPONSE, require_api_key
from app.config import Settings
from app.errors import install_error_handlers
from app.logs import configure_logging
from app.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    UnexpectedErrorMiddleware,
)
from app.model import load_model
from app.openapi import document_request_models
from app.prediction_pool import create_prediction_pool
from app.schemas import BODY_TIMEOUT_RESPONSE

API_PREFIX = "/api/v1"
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

    ``load_model`` raises ``ModelLoadError`` naming the file and the failed
    check; raised here, it makes uvicorn log it and exit non-zero before the
    socket takes a request, so a wrong model is never served. It runs on the
    event loop, although it blocks: uvicorn serves nothing until start-up is
    complete, so there is nothing to keep responsive, and a thread started
    just for it would stay in the worker, holding memory.
    """
    settings: Settings = app.state.settings
    app.state.served_model = load_model(settings.scorer_backend)
    yield
    logger.info("shutting down")
    app.state.prediction_pool.shutdown(wait=False)


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
    )
    app.state.settings = settings
    app.state.prediction_pool = create_prediction_pool()
    # Keys guard predictions only; health, docs and the home page stay open.
    predict.add_predict_route(
        app.router,
        prefix=API_PREFIX,
        dependencies=[Depends(require_api_key)] if settings.api_keys else [],
        responses=BODY_TIMEOUT_RESPONSE
        | (UNAUTHORIZED_RESPONSE if settings.api_keys else {}),
    )
    # After the prediction route, which most requests are for: routes match in order.
    app.include_router(home.router)
    app.include_router(health.router, prefix=API_PREFIX)
    document_request_models(app, predict.REQUEST_MODELS)
    install_error_handlers(app)
    # Added innermost first: a request meets RequestContext, CORS, the 500 guard,
    # then the size cap.
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
    return app
