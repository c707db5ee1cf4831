"""``POST /api/v1/feedback``: the price a house sold for, beside what was predicted.

The truth is written into the prediction log's row (found by the
``X-Request-ID`` of the prediction and the row's index) and, when the row
was priced, added to the live RMSLE metrics of the model version that
priced it. A prediction made a moment ago may still be on its way to the
database: on a miss the log's writer is asked to write what it holds and
the row is looked up again, so a client can report right after
predicting. The worker connects to the database for the first report it
gets (``feedback_engine``): a worker that never gets one never imports
SQLAlchemy.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.metrics import ServiceMetrics
from app.recorder import PredictionRecorder
from app.schemas import ErrorResponse

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.log_store import Comparison

FLUSH_WAIT_S = 5.0
# The log's row column is a 32-bit integer in both databases.
MAX_ROW = 2**31 - 1


class FeedbackRequest(BaseModel):
    """The truth for one row of an earlier prediction."""

    request_id: str = Field(
        min_length=1, max_length=128, description="The prediction's X-Request-ID."
    )
    row: int = Field(
        ge=0, le=MAX_ROW, description="The row's index in that request's inputs."
    )
    sale_price: float = Field(
        gt=0,
        allow_inf_nan=False,
        strict=True,
        description="What the house sold for, in dollars: a number above 0.",
    )
    sale_date: date | None = Field(None, description="When it sold (ISO date).")


class FeedbackResponse(BaseModel):
    """What was predicted for the row(s) the truth was stored beside."""

    request_id: str
    row: int
    matched_rows: int
    predicted: list[float | None]
    model_versions: list[str]


RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "The body is over MAX_BODY_BYTES"},
    415: {"model": ErrorResponse, "description": "The body is not JSON"},
    404: {
        "model": ErrorResponse,
        "description": "No logged prediction has that id and row",
    },
    503: {
        "model": ErrorResponse,
        "description": "The prediction log is off or unreachable",
    },
}


async def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    """Store the sale price beside the logged prediction; 404 if none is logged."""
    recorder: PredictionRecorder | None = request.app.state.recorder
    if recorder is None or not recorder.logging:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the prediction log is off (PREDICTION_LOG=off): no feedback is kept",
        )
    # The database's modules load with the first report (see the module's docstring).
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from app.log_store import Feedback, store_feedback  # noqa: PLC0415

    received = Feedback(
        request_id=body.request_id,
        row=body.row,
        sale_price=body.sale_price,
        sale_date=body.sale_date,
        received_at=datetime.now(UTC),
    )
    try:
        engine = feedback_engine(request.app)
        matched = await run_in_threadpool(store_feedback, engine, received)
        if not matched:
            await run_in_threadpool(recorder.flush, FLUSH_WAIT_S)
            matched = await run_in_threadpool(store_feedback, engine, received)
    except SQLAlchemyError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"the prediction log cannot be reached ({type(error).__name__}); "
            "retry later",
        ) from error
    if not matched:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no logged prediction has request id {body.request_id!r} and row "
            f"{body.row} (unknown, not sampled by PREDICTION_LOG, or not written)",
        )
    metrics: ServiceMetrics | None = request.app.state.metrics
    if metrics is not None:
        count_errors(metrics, matched)
    return FeedbackResponse(
        request_id=body.request_id,
        row=body.row,
        matched_rows=len(matched),
        predicted=[comparison.price for comparison in matched],
        model_versions=[comparison.model_version for comparison in matched],
    )


def feedback_engine(app: FastAPI) -> Engine:
    """The prediction log's database, connected on the worker's first report."""
    engine: Engine | None = app.state.feedback_engine
    if engine is None:
        from app.log_store import database_url, make_engine  # noqa: PLC0415

        engine = make_engine(database_url(app.state.settings))
        app.state.feedback_engine = engine
    return engine


def close_feedback_engine(app: FastAPI) -> None:
    """Close the feedback's database connections, if a report ever opened them."""
    engine: Engine | None = app.state.feedback_engine
    if engine is not None:
        engine.dispose()
        app.state.feedback_engine = None


def count_errors(metrics: ServiceMetrics, matched: list[Comparison]) -> None:
    """Add each priced row's squared log error to its model version's running sums."""
    for comparison in matched:
        error = comparison.squared_log_error()
        if error is not None and math.isfinite(error):
            metrics.feedback.labels(comparison.model_version).inc()
            metrics.squared_log_error.labels(comparison.model_version).inc(error)
