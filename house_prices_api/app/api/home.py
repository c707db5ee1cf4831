"""``GET /``: a small page for people who open the service in a browser."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app import __version__
from app.api.deps import ServedModelDep, SettingsDep

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(settings: SettingsDep, served: ServedModelDep) -> str:
    """Name, versions and links to the interactive docs and the health check."""
    model = escape(served.version) if served and served.version else "not loaded"
    name = escape(settings.service_name)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{name}</title></head>
<body>
<h1>{name}</h1>
<p>House-price predictions for the Ames housing data.
API version {__version__}, model version {model}.</p>
<ul>
<li><a href="/docs">Interactive API docs</a> (try <code>POST /api/v1/predict</code>)</li>
<li><a href="/api/v1/health">Health check</a></li>
</ul>
</body>
</html>
"""
