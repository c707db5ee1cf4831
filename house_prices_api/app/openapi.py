"""The OpenAPI document, with the schemas of request bodies declared in ``openapi_extra``.

A route that reads its body itself (``app.api.predict``) refers to its
body's schema by ``$ref``; FastAPI only adds the schemas of parameters and
responses it validates, so ``document_request_models`` adds these, through
FastAPI's documented way to extend the document (replacing ``app.openapi``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"


def request_schemas(models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """The schemas of ``models`` as request bodies, and of the models they use."""
    _, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


def document_request_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Make ``app.openapi`` add the schemas of ``models`` to the document it builds.

    The document is built on its first request, as FastAPI builds it, not
    when the app is created: a schema may read the loaded model's metadata.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            extra = request_schemas(models)
            app.openapi_schema = with_schemas(FastAPI.openapi(app), extra)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_schemas(document: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``extra`` among its component schemas, as FastAPI writes them.

    Sorted by name, and passed through FastAPI's ``OpenAPI`` model and encoder
    as FastAPI passes its own document, so they read as if FastAPI had made them.
    """
    components = document.setdefault("components", {})
    schemas = dict(components.get("schemas", {}))
    for name, schema in extra.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name!r}")
    components["schemas"] = dict(sorted(schemas.items()))
    encoded: dict[str, Any] = jsonable_encoder(
        OpenAPI.model_validate(document), by_alias=True, exclude_none=True
    )
    return encoded
