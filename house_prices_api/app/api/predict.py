"""``POST /api/v1/predict``: a batch of houses in, one price or error per house out."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from fastapi.concurrency import run_in_threadpool
from loguru import logger

from app.api.deps import ReadyModelDep, SettingsDep
from app.schemas import (
    ErrorResponse,
    PredictionRequest,
    PredictionResponse,
    ValidationErrorResponse,
)
from app.strict_json import StrictJSONRoute
from regression_model.predict import make_prediction
from regression_model.processing.schema import EXAMPLE_HOUSE

router = APIRouter(tags=["prediction"], route_class=StrictJSONRoute)

_EXAMPLE_WITH_GAPS = {**EXAMPLE_HOUSE, "LotFrontage": None, "GarageFinish": None}
_EXAMPLES = {
    "one house": {
        "summary": "One real house (sold for $189,000)",
        "value": {"inputs": [EXAMPLE_HOUSE]},
    },
    "mixed batch": {
        "summary": "A batch with missing values and one bad row",
        "value": {
            "inputs": [
                _EXAMPLE_WITH_GAPS,
                {**EXAMPLE_HOUSE, "Neighborhood": "Atlantis", "OverallQual": 11},
            ]
        },
    },
}


@router.post(
    "/predict",
    response_model=PredictionResponse,
    responses={
        413: {"model": ErrorResponse, "description": "Too many rows or too many bytes"},
        415: {"model": ErrorResponse, "description": "The body is not JSON"},
        422: {
            "model": PredictionResponse | ValidationErrorResponse,
            "description": "No row could be priced (per-row errors, same shape as "
            "200), or the envelope is malformed (a list of issues)",
        },
        503: {"model": ErrorResponse, "description": "The model is not loaded"},
    },
)
async def predict(
    payload: Annotated[PredictionRequest, Body(openapi_examples=_EXAMPLES)],
    settings: SettingsDep,
    model: ReadyModelDep,
    response: Response,
) -> PredictionResponse:
    """Price every valid row; explain every invalid one.

    200 when at least one row got a price, 422 (same body) when none did.
    """
    rows: list[Any] = payload.inputs
    if len(rows) > settings.max_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{len(rows)} rows is more than the limit of {settings.max_rows} "
            "rows per request (MAX_ROWS); split the batch",
        )
    started = time.perf_counter()
    result = await run_in_threadpool(
        make_prediction, input_data=rows, scorer=model.scorer, version=model.version
    )
    priced = sum(price is not None for price in result["predictions"])
    logger.info(
        "priced {} of {} rows ({} errors) in {:.1f} ms",
        priced,
        len(rows),
        len(result["errors"]),
        (time.perf_counter() - started) * 1000,
    )
    if priced == 0:
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return PredictionResponse.model_validate(result)
