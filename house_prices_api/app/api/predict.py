"""``POST /api/v1/predict``: a batch of houses in, one price or error per house out.

The endpoint takes the ``Request`` and validates the envelope itself
(``read_envelope``) instead of declaring a body parameter: FastAPI would
otherwise parse and validate the body before the key and readiness
dependencies run, and the rows themselves are validated by
``make_prediction``, row by row. ``openapi_extra`` documents the body as the
``PredictionRequest`` schema with its examples, as a body parameter would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from json import JSONDecodeError
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, params, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from app.api.deps import ReadyModelDep, SettingsDep
from app.config import Settings
from app.logs import current_request_id, note_outcome
from app.prediction_pool import run_in_pool
from app.schemas import (
    ErrorResponse,
    PredictionRequest,
    PredictionResponse,
    ValidationErrorResponse,
)
from app.strict_json import StrictJSONRoute
from regression_model import (
    EXAMPLE_HOUSE,
    LoadedModel,
    PredictionResult,
    ScorerBackend,
    make_prediction,
)

# Batches of at most this many rows, scored by ONNX, are scored on the event loop.
INLINE_ROWS = 8

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

# FastAPI's error for a required body that was not sent.
NO_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}

# The models the request body's schema refers to: main.py adds them to the document.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (PredictionRequest,)
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/PredictionRequest"},
                "examples": _EXAMPLES,
            }
        },
        "required": True,
    }
}


async def predict(
    request: Request, settings: SettingsDep, model: ReadyModelDep
) -> Response:
    """Price every valid row; explain every invalid one.

    200 when at least one row got a price, 422 (same body) when none did.
    The body is serialised once, straight to JSON bytes by pydantic's
    serializer (the bytes ``response_model`` would give): the result is
    built by ``make_prediction`` and needs no second validation.
    """
    payload = await read_envelope(request)
    return await price_rows(
        payload.inputs, settings, model, request, explain=payload.explain
    )


async def read_envelope(request: Request) -> PredictionRequest:
    """The body as a ``PredictionRequest``, or a 422 with the issues FastAPI reports.

    The same ``type``, ``loc`` and ``msg`` as FastAPI's own body validation:
    ``missing`` for an empty body, ``json_invalid`` with the parser's reason
    and offset, and pydantic's errors located under ``body``. Validated with
    ``from_attributes``, as FastAPI validates a body, so messages match too.
    """
    if not await request.body():
        raise RequestValidationError([NO_BODY])
    try:
        body = await request.json()
    except JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from error
    try:
        return PredictionRequest.model_validate(body, from_attributes=True)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**issue, "loc": ("body", *issue["loc"])}
                for issue in error.errors(include_url=False)
            ]
        ) from error


async def price_rows(
    rows: list[Any],
    settings: Settings,
    model: LoadedModel,
    request: Request,
    *,
    explain: bool = False,
) -> Response:
    """The response for a well-formed batch: 413 over ``MAX_ROWS``, else priced rows."""
    result = await score_rows(rows, settings, model, request, explain=explain)
    predictions = result["predictions"]
    priced = len(predictions) - predictions.count(None)
    code = status.HTTP_200_OK if priced else status.HTTP_422_UNPROCESSABLE_CONTENT
    return Response(to_json(result), code, media_type="application/json")


async def score_rows(
    rows: list[Any],
    settings: Settings,
    model: LoadedModel,
    request: Request,
    *,
    explain: bool = False,
) -> PredictionResult:
    """Rows priced by ``make_prediction`` and recorded: the one path of every protocol.

    413 (``HTTPException``) over ``MAX_ROWS``. ``explain`` adds explanations
    when the model offers them (a model without tables answers without).
    """
    explain = explain and model.explainer is not None
    if len(rows) > settings.max_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{len(rows)} rows is more than the limit of {settings.max_rows} "
            "rows per request (MAX_ROWS); split the batch",
        )
    if scores_inline(model.backend, len(rows)):
        result = make_prediction(input_data=rows, model=model, explain=explain)
    else:
        result = await run_in_pool(
            request.app.state.prediction_pool,
            make_prediction,
            input_data=rows,
            model=model,
            explain=explain,
        )
    recorder = request.app.state.recorder
    if recorder is not None:
        recorder.submit(current_request_id(), rows, result)
    predictions = result["predictions"]
    priced = len(predictions) - predictions.count(None)
    note_outcome(f"priced {priced} of {len(rows)} rows ({len(result['errors'])} errors)")
    return result


def scores_inline(backend: ScorerBackend, rows: int) -> bool:
    """Whether to score on the event loop instead of in the prediction pool.

    Only an ONNX batch of at most ``INLINE_ROWS`` rows: its prediction costs
    about as much CPU as the hop to a thread and back, and the hop buys no
    parallelism (validation holds the GIL either way), so scoring it inline
    frees the loop sooner. Larger batches and the pipeline scorer go to the
    app's prediction pool (``app.prediction_pool``); docs/benchmarks.md has
    the measurements.
    """
    return rows <= INLINE_ROWS and backend == "onnx"


PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Too many rows or too many bytes"},
    415: {"model": ErrorResponse, "description": "The body is not JSON"},
    422: {
        "model": PredictionResponse | ValidationErrorResponse,
        "description": "No row could be priced (per-row errors, same shape as "
        "200), or the envelope is malformed (a list of issues)",
    },
    503: {"model": ErrorResponse, "description": "The model is not loaded"},
}


def add_predict_route(
    router: APIRouter,
    *,
    prefix: str,
    dependencies: Sequence[params.Depends],
    responses: Mapping[int | str, dict[str, Any]],
) -> None:
    """Add ``POST {prefix}/predict`` to ``router`` itself, not through an included router.

    FastAPI resolves a request for a route of an included router through
    that router's own route table; a route of the app's router is matched
    directly, which costs less per request.
    """
    router.add_api_route(
        f"{prefix}/predict",
        predict,
        methods=["POST"],
        tags=["prediction"],
        response_model=PredictionResponse,
        dependencies=dependencies,
        responses={**responses, **PREDICT_RESPONSES},
        openapi_extra=REQUEST_BODY,
        route_class_override=StrictJSONRoute,
    )
