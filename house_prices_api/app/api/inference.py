"""The Open Inference Protocol (KServe V2) under ``/v2``, beside ``/api/v1``.

KServe, Triton, MLServer and Seldon clients and gateways speak it, so they
work here unchanged. The routes share everything with ``/api/v1``: the
middleware (request id, body caps), the API keys (on ``infer`` only, as on
``predict``), the ready model, ``MAX_ROWS`` and the one scoring path
(``score_rows`` -> ``make_prediction``). Errors take the protocol's shape,
``{"error": "..."}``, which its clients read. The routes are left out of
``/openapi.json``: the protocol is its own contract, and a client discovers
the model's tensors from ``GET /v2/models/house-prices``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, params, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api.deps import ReadyModelDep, ServedModelDep, SettingsDep
from app.api.predict import score_rows
from app.config import Settings
from app.errors import validation_issues
from app.inference_protocol import (
    BINARY_EXTENSION,
    HEADER_LENGTH_HEADER,
    MODEL_NAME,
    TensorError,
    decode_request,
    encode_response,
    model_metadata,
)
from app.strict_json import is_uncompressed
from regression_model import LoadedModel

PREFIX = "/v2"
SERVER_NAME = "house-prices-api"
PLATFORMS = {"onnx": "onnxruntime_onnx", "pipeline": "scikit-learn"}


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
    return readiness(served, model_name, None)


async def version_ready(
    served: ServedModelDep, model_name: str, model_version: str
) -> JSONResponse:
    """200 when the named model's version is loaded, 503 before it is."""
    return readiness(served, model_name, model_version)


def readiness(served: LoadedModel | None, name: str, version: str | None) -> JSONResponse:
    """The model-ready answer: 503 before the model is loaded, 404 for another."""
    if served is None:
        return JSONResponse(
            {"name": name, "ready": False},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    check_model(name, version, served)
    return JSONResponse({"name": MODEL_NAME, "ready": True})


async def model_metadata_route(model: ReadyModelDep, model_name: str) -> dict[str, Any]:
    """Name, version, platform and one input tensor per feature."""
    return metadata_of(model, model_name, None)


async def version_metadata(
    model: ReadyModelDep, model_name: str, model_version: str
) -> dict[str, Any]:
    """The same metadata, for the named version."""
    return metadata_of(model, model_name, model_version)


def metadata_of(model: LoadedModel, name: str, version: str | None) -> dict[str, Any]:
    """Name, version, platform and one input tensor per feature; 404 for another."""
    check_model(name, version, model)
    return model_metadata(model.version, PLATFORMS.get(model.backend, model.backend))


async def infer(
    request: Request, settings: SettingsDep, model: ReadyModelDep, model_name: str
) -> Response:
    """Price the houses in the input tensors (see ``price_tensors``)."""
    return await price_tensors(request, settings, model, model_name, None)


async def infer_version(
    request: Request,
    settings: SettingsDep,
    model: ReadyModelDep,
    model_name: str,
    model_version: str,
) -> Response:
    """Price the houses in the input tensors, with the named version."""
    return await price_tensors(request, settings, model, model_name, model_version)


async def price_tensors(
    request: Request,
    settings: Settings,
    model: LoadedModel,
    name: str,
    version: str | None,
) -> Response:
    """Price the houses in the input tensors; ``price`` holds one element per house.

    A house that cannot be priced gets ``null`` (JSON) or NaN (binary) in
    ``price``; the reasons are in the response's ``parameters.errors``.
    """
    check_model(name, version, model)
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


def build_router(infer_dependencies: Sequence[params.Depends]) -> APIRouter:
    """The ``/v2`` routes; ``infer_dependencies`` guard inference (the API keys)."""
    router = APIRouter(
        prefix=PREFIX, route_class=InferenceProtocolRoute, include_in_schema=False
    )
    router.add_api_route("", server_metadata, methods=["GET"])
    router.add_api_route("/health/live", server_live, methods=["GET"])
    router.add_api_route("/health/ready", server_ready, methods=["GET"])
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
        router.add_api_route(model_path, metadata_endpoint, methods=["GET"])
        router.add_api_route(
            f"{model_path}/ready",
            ready_endpoint,
            methods=["GET"],
        )
        router.add_api_route(
            f"{model_path}/infer",
            infer_endpoint,
            methods=["POST"],
            dependencies=infer_dependencies,
        )
    return router
