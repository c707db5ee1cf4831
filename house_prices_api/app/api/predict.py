"""``POST /api/v1/predict``: a batch of houses in, one price or error per house out."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from json import JSONDecodeError
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response, params, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic_core import to_json

from app.api.auth import API_KEY_HEADER, api_key_header, ensure_valid_key, require_api_key
from app.api.deps import (
    ReadyModelDep,
    SettingsDep,
    get_ready_model,
    get_settings,
    ready_model_of,
)
from app.config import Settings
from app.logs import note_outcome
from app.model import ServedModel
from app.prediction_pool import run_in_pool
from app.schemas import (
    ErrorResponse,
    PredictionRequest,
    PredictionResponse,
    ValidationErrorResponse,
)
from app.strict_json import StrictJSONRequest, StrictJSONRoute, strict_request
from regression_model.predict import make_prediction
from regression_model.processing.schema import EXAMPLE_HOUSE
from regression_model.scoring import OnnxScorer, Scorer

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


async def predict(
    payload: Annotated[PredictionRequest, Body(openapi_examples=_EXAMPLES)],
    settings: SettingsDep,
    model: ReadyModelDep,
    request: Request,
) -> Response:
    """Price every valid row; explain every invalid one.

    200 when at least one row got a price, 422 (same body) when none did.
    The body is serialised once, straight to JSON bytes by pydantic's
    serializer (the bytes ``response_model`` would give): the result is
    built by ``make_prediction`` and needs no second validation.
    """
    return await price_rows(payload.inputs, settings, model, request)


async def price_rows(
    rows: list[Any], settings: Settings, model: ServedModel, request: Request
) -> Response:
    """The response for a well-formed batch: 413 over ``MAX_ROWS``, else priced rows.

    Shared by the documented endpoint and ``PredictRoute``'s direct path, so
    both answer a batch with the same bytes.
    """
    if len(rows) > settings.max_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{len(rows)} rows is more than the limit of {settings.max_rows} "
            "rows per request (MAX_ROWS); split the batch",
        )
    if scores_inline(model.scorer, len(rows)):
        result = make_prediction(
            input_data=rows, scorer=model.scorer, version=model.version
        )
    else:
        result = await run_in_pool(
            request.app.state.prediction_pool,
            make_prediction,
            input_data=rows,
            scorer=model.scorer,
            version=model.version,
        )
    predictions = result["predictions"]
    priced = len(predictions) - predictions.count(None)
    note_outcome(f"priced {priced} of {len(rows)} rows ({len(result['errors'])} errors)")
    code = status.HTTP_200_OK if priced else status.HTTP_422_UNPROCESSABLE_CONTENT
    return Response(to_json(result), code, media_type="application/json")


def scores_inline(scorer: Scorer, rows: int) -> bool:
    """Whether to score on the event loop instead of in the thread pool.

    Only an ONNX batch of at most ``INLINE_ROWS`` rows. Its whole prediction
    takes 0.2-0.3 ms of CPU (about 0.7 ms if every row takes pydantic's
    path to its errors), no more than the hop to the thread pool and back,
    and the hop buys no parallelism: validation holds the GIL either way.
    Measured on the 2-core machine with one worker: 1-row requests on 4
    connections, beside 100-row batches on 2 connections (in the pool in both
    cases), went from 345 req/s, p50 11.3 ms, p99 18-21 ms with every batch in
    the pool to 600 req/s, p50 6.3 ms, p99 8-15 ms inline; on 8 connections
    alone, from about 780 to 890 req/s. Inline scoring frees the loop sooner
    than the hop would, so concurrent requests wait less, not more. Larger
    batches and the pipeline scorer (about 20 ms a call) go to the app's
    prediction pool (``app.prediction_pool``).
    """
    return rows <= INLINE_ROWS and isinstance(scorer, OnnxScorer)


# What ``predict`` may depend on for ``PredictRoute`` to take its direct path:
# every one of them is checked there in the same way (see ``direct_inputs``).
DIRECT_PATH_DEPENDENCIES = frozenset(
    {get_settings, get_ready_model, require_api_key, api_key_header}
)


class PredictRoute(StrictJSONRoute):
    """``predict``'s route, with a direct path for the well-formed request.

    FastAPI resolves a route's dependencies and validates its body anew for
    every request: about a third of the CPU of a 1-row request here, more
    than the prediction. The direct path does the same checks by hand for
    the case that almost every request is (JSON content type, the key if
    keys are set, the model ready, an object whose ``inputs`` is a non-empty
    list) and prices it with the endpoint's own ``price_rows``. Anything
    else, every error included, goes to FastAPI's handler with the body
    already read, so each error is FastAPI's own, in one place.

    It steps aside for good when the route has a dependency it does not know
    (one added later would otherwise be skipped), and per request while the
    app has dependency overrides (tests swap the settings or the model).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not dependency_calls(self.dependant) <= DIRECT_PATH_DEPENDENCIES:
            return super().get_route_handler()
        full_handler = APIRoute.get_route_handler(self)

        async def handler(request: Request) -> Response:
            strict = strict_request(request)
            direct = await direct_inputs(strict)
            if direct is None:
                return await full_handler(strict)
            rows, settings, model = direct
            return await price_rows(rows, settings, model, strict)

        return handler


def dependency_calls(dependant: Dependant) -> set[Any]:
    """Every callable ``dependant`` depends on, directly or through another."""
    calls: set[Any] = set()
    for dependency in dependant.dependencies:
        calls.add(dependency.call)
        calls |= dependency_calls(dependency)
    return calls


async def direct_inputs(
    request: StrictJSONRequest,
) -> tuple[list[Any], Settings, ServedModel] | None:
    """The rows, settings and model of a request that needs no more checks, or ``None``.

    ``None`` (FastAPI's handler takes over) unless: no dependency is
    overridden, the model passed its self-test, and the body is strict JSON
    holding an object whose ``inputs`` is a non-empty list. A wrong or
    missing ``X-API-Key`` (when ``API_KEYS`` are set) gets ``require_api_key``'s
    401 here, before the body is read, and its keys are compared once. The
    body is read (and cached on ``request``) only once the rest has passed.
    """
    app = request.app
    if app.dependency_overrides:
        return None
    settings: Settings = app.state.settings
    if settings.api_keys:  # an empty header is no key, as for ``APIKeyHeader``
        ensure_valid_key(request.headers.get(API_KEY_HEADER) or None, settings.api_keys)
    model = ready_model_of(request)
    if model is None:
        return None
    try:
        payload = await request.json()
    except JSONDecodeError:
        return None
    rows = payload.get("inputs") if type(payload) is dict else None
    if type(rows) is not list or not rows:
        return None
    return rows, settings, model


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
        route_class_override=PredictRoute,
    )
