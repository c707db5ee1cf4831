"""Dependencies the routers ask for with ``Depends``: settings and the loaded model.

Both live on ``app.state`` (set by ``create_app`` and the lifespan handler),
so tests swap them with ``app.dependency_overrides`` or a custom ``Settings``.
They are ``async`` although they never await: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.config import Settings
from regression_model import LoadedModel


async def get_settings(request: Request) -> Settings:
    """The settings this app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def served_model_of(request: Request) -> LoadedModel | None:
    """The model, once the lifespan loaded and self-tested it; else ``None``."""
    served: LoadedModel | None = getattr(request.app.state, "served_model", None)
    return served


async def get_served_model(request: Request) -> LoadedModel | None:
    """The model, once loaded and self-tested; else ``None`` (for health)."""
    return served_model_of(request)


async def get_ready_model(request: Request) -> LoadedModel:
    """The model, once loaded and self-tested; otherwise 503.

    Reads the state itself rather than depending on ``get_served_model``:
    every dependency FastAPI resolves is work on each request.
    """
    served = served_model_of(request)
    if served is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the model is not loaded; see /api/v1/health",
        )
    return served


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServedModelDep = Annotated[LoadedModel | None, Depends(get_served_model)]
ReadyModelDep = Annotated[LoadedModel, Depends(get_ready_model)]
