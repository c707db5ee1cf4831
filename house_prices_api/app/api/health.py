"""``GET /api/v1/health``: is the model loaded and did it pass its self-test?"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

import regression_model
from app import __version__
from app.api.deps import ServedModelDep, SettingsDep
from app.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The model is not ready"}},
)
async def health(
    settings: SettingsDep, served: ServedModelDep, response: Response
) -> HealthResponse:
    """200 when the service can predict, 503 (same body) when it cannot."""
    ready = served is not None
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthResponse(
        status="ok" if ready else "unavailable",
        service=settings.service_name,
        api_version=__version__,
        model_version=served.version if served else None,
        model_package_version=regression_model.__version__,
        scorer_backend=settings.scorer_backend,
        model_loaded=ready,
        self_test_passed=ready,
    )
