"""Dependencies the routers ask for with ``Depends``: settings and the loaded model.

Both live on ``app.state`` (set by ``create_app`` and the lifespan handler),
so tests swap them with ``app.dependency_overrides`` or a custom ``Settings``.
They are ``async`` although they never await: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per dependency per request that
cost more than reading an attribute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.config import Settings
from app.model import ServedModel


async def get_settings(request: Request) -> Settings:
    """The settings this app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def served_model_of(request: Request) -> ServedModel | None:
    """The model as loaded at start-up, or ``None`` before the lifespan ran."""
    served: ServedModel | None = getattr(request.app.state, "served_model", None)
    return served


async def get_served_model(request: Request) -> ServedModel | None:
    """The model as loaded at start-up, or ``None`` before the lifespan ran."""
    return served_model_of(request)


def ready_model_of(request: Request) -> ServedModel | None:
    """The model, if it loaded and passed its self-test; otherwise ``None``."""
    served = served_model_of(request)
    return served if served is not None and served.ready else None


async def get_ready_model(request: Request) -> ServedModel:
    """The model, if it loaded and passed its self-test; otherwise 503.

    Calls ``ready_model_of`` rather than depending on ``get_served_model``:
    each dependency FastAPI resolves costs about 15 us per request.
    """
    served = ready_model_of(request)
    if served is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the model is not loaded; see /api/v1/health",
        )
    return served


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServedModelDep = Annotated[ServedModel | None, Depends(get_served_model)]
ReadyModelDep = Annotated[ServedModel, Depends(get_ready_model)]
