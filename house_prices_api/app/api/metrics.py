"""``GET /metrics``: Prometheus' text format, every worker's counts added up.

Open when the API is open; once ``API_KEYS`` is set, a scrape must carry
``Authorization: Bearer <METRICS_TOKEN>``, a token of its own so that a
client's key never opens the metrics and a scraper's token never prices
houses. With keys set and no token, the metrics stay closed (403).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import SettingsDep
from app.metrics import exposition

router = APIRouter(tags=["monitoring"])


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def check_scraper(settings: SettingsDep, authorization: str | None) -> None:
    """Raise 403/401 unless the scrape may read the metrics (see the module doc)."""
    if not settings.api_keys:
        return
    if settings.metrics_token is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="metrics are closed: API_KEYS is set and METRICS_TOKEN is not",
        )
    expected = _digest(f"Bearer {settings.metrics_token.get_secret_value()}")
    if not hmac.compare_digest(_digest(authorization or ""), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Authorization: Bearer <METRICS_TOKEN> is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """The scrape: counters, histograms, the model's version and age."""
    check_scraper(settings, request.headers.get("authorization"))
    state = request.app.state
    body = exposition(state.metrics, getattr(state, "model_age", None))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
