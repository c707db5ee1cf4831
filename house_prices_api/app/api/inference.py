"""The Open Inference Protocol (KServe V2) under ``/v2``, beside ``/api/v1``.

KServe, Triton, MLServer and Seldon clients and gateways speak it, so they
work here unchanged. The routes share everything with ``/api/v1``: the
middleware (request id, body caps), the API keys (on ``infer`` only, as on
``predict``), the ready model, ``MAX_ROWS`` and the one scoring path
(``score_rows`` -> ``make_prediction``). Errors take the protocol's shape,
``{"error": "..."}``, which its clients read.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, params, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api.deps import ReadyModelDep, ServedModelDep, SettingsDep
from app.api.predict import score_rows
from app.errors import validation_issues
from app.inference_protocol import (
    BINARY_EXTENSION,
    HEADER_LENGTH_HEADER,
    MODEL_NAME,
    TensorError,
    decode_request,
    encode_response,
    input_tensors,
    model_metadata,
)
from app.strict_json import is_uncompressed
from regression_model import EXAMPLE_HOUSE, LoadedModel

PREFIX = "/v2"
SERVER_NAME = "house-prices-api"
PLATFORMS = {"onnx": "onnxruntime_onnx", "pipeline": "scikit-learn"}


class ProtocolError(BaseModel):
    """The protocol's error body: what is wrong with the request."""

    error: str


def error_response(status_code: int, message: str, headers: Any = None) -> JSONResponse:
    """``{"error": message}``, the body every protocol client reads on a non-200."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


class InferenceProtocolRoute(APIRoute):
    """A route whose errors, its dependencies' too, take the protocol's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def protocol_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except StarletteHTTPException as error:
                return error_response(error.status_code, str(error.detail), error.headers)
            except RequestValidationError as error:
                issues = validation_issues(error.errors())
                message = "; ".join(f"{issue['loc']}: {issue['msg']}" for issue in issues)
                return error_response(status.HTTP_400_BAD_REQUEST, message)

        return protocol_handler


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        400: "A malformed request: bad JSON, an unknown input, a wrong datatype, "
        "shape or length",
        401: "X-API-Key is missing or not one of the API_KEYS",
        404: f"No such model or version; this server serves '{MODEL_NAME}'",
        413: "More rows than MAX_ROWS, or a body over MAX_BODY_BYTES",
        415: "A compressed body",
        503: "The model is not loaded",
    }
    return {
        code: {"model": ProtocolError, "description": reasons[code]} for code in codes
    }


def check_model(name: str, version: str | None, model: LoadedModel) -> None:
    """404 unless the path names the served model (and, if given, its version)."""
    if name != MODEL_NAME:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"unknown model '{name}'; this server serves '{MODEL_NAME}'",
        )
    if version is not None and version != model.version:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"unknown version '{version}' of '{MODEL_NAME}'; "
            f"this server serves version {model.version}",
        )


async def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": [BINARY_EXTENSION]}


async def server_live() -> dict[str, bool]:
    """200 while the process answers at all."""
    return {"live": True}


async def server_ready(served: ServedModelDep) -> JSONResponse:
    """200 once the model is loaded and self-tested, else 503."""
    ready = served is not None
    code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse({"ready": ready}, status_code=code)


async def model_ready(served: ServedModelDep, model_name: str) -> JSONResponse:
    """200 when the named model is loaded, 503 before it is."""
    return await version_ready(served, model_name, None)


async def version_ready(
    served: ServedModelDep, model_name: str, model_version: str | None
) -> JSONResponse:
    """200 when the named model (and version) is loaded, 503 before it is."""
    if served is None:
        return JSONResponse(
            {"name": model_name, "ready": False},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    check_model(model_name, model_version, served)
    return JSONResponse({"name": MODEL_NAME, "ready": True})


async def model_metadata_route(model: ReadyModelDep, model_name: str) -> dict[str, Any]:
    """Name, version, platform and one input tensor per feature."""
    return await version_metadata(model, model_name, None)


async def version_metadata(
    model: ReadyModelDep, model_name: str, model_version: str | None
) -> dict[str, Any]:
    """Name, version, platform and one input tensor per feature."""
    check_model(model_name, model_version, model)
    return model_metadata(model.version, PLATFORMS.get(model.backend, model.backend))


async def infer(
    request: Request, settings: SettingsDep, model: ReadyModelDep, model_name: str
) -> Response:
    """Price the houses in the input tensors (see ``infer_version``)."""
    return await infer_version(request, settings, model, model_name, None)


async def infer_version(
    request: Request,
    settings: SettingsDep,
    model: ReadyModelDep,
    model_name: str,
    model_version: str | None,
) -> Response:
    """Price the houses in the input tensors; ``price`` holds one element per house.

    A house that cannot be priced gets ``null`` (JSON) or NaN (binary) in
    ``price``; the reasons are in the response's ``parameters.errors``.
    """
    check_model(model_name, model_version, model)
    if not is_uncompressed(request.headers.get("content-encoding")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="compressed bodies are not accepted; send the request uncompressed",
        )
    try:
        decoded = decode_request(
            await request.body(), request.headers.get(HEADER_LENGTH_HEADER)
        )
    except TensorError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from error
    result = await score_rows(decoded.rows, settings, model, request)
    body, header_length = encode_response(decoded, result)
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH_HEADER: str(header_length)},
    )


def example_request() -> dict[str, Any]:
    """The example house as one-element tensors, for the OpenAPI page."""
    specs = input_tensors()
    return {
        "inputs": [
            {
                "name": name,
                "datatype": specs[name].datatype,
                "shape": [1],
                "data": [value],
            }
            for name, value in EXAMPLE_HOUSE.items()
            if name in specs
        ]
    }


INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["inputs"]},
                "example": example_request(),
            }
        },
        "required": True,
    }
}


def build_router(infer_dependencies: Sequence[params.Depends]) -> APIRouter:
    """The ``/v2`` routes; ``infer_dependencies`` guard inference (the API keys)."""
    router = APIRouter(
        prefix=PREFIX,
        tags=["open inference protocol"],
        route_class=InferenceProtocolRoute,
    )
    router.add_api_route("", server_metadata, methods=["GET"])
    router.add_api_route("/health/live", server_live, methods=["GET"])
    router.add_api_route(
        "/health/ready", server_ready, methods=["GET"], responses=_responses(503)
    )
    routes = (
        ("/models/{model_name}", model_metadata_route, model_ready, infer),
        (
            "/models/{model_name}/versions/{model_version}",
            version_metadata,
            version_ready,
            infer_version,
        ),
    )
    for model_path, metadata_endpoint, ready_endpoint, infer_endpoint in routes:
        router.add_api_route(
            model_path, metadata_endpoint, methods=["GET"], responses=_responses(404, 503)
        )
        router.add_api_route(
            f"{model_path}/ready",
            ready_endpoint,
            methods=["GET"],
            responses=_responses(404, 503),
        )
        router.add_api_route(
            f"{model_path}/infer",
            infer_endpoint,
            methods=["POST"],
            dependencies=infer_dependencies,
            responses=_responses(400, 401, 404, 413, 415, 503),
            openapi_extra=INFER_BODY,
        )
    return router
