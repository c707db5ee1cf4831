"""``/docs`` and ``/redoc`` with their scripts and styles served by the service itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on a
machine without internet they are blank. This is FastAPI's documented
recipe ("Self-hosting JavaScript and CSS for docs"): the app is built with
``docs_url=None, redoc_url=None`` and these routes serve the pages from
``get_swagger_ui_html``/``get_redoc_html``, pointing at the asset files that
the pinned ``fastapi_offline`` package ships (Swagger UI's and ReDoc's
release bundles). The pages' Content-Security-Policy lets them load nothing
from another origin.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_URL = "/docs-assets"
# The files fastapi_offline ships beside its code, and their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
# FastAPI's pages start Swagger UI with an inline script; ReDoc searches in a blob worker.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


def assets_folder() -> Path:
    """The folder of the installed ``fastapi_offline``'s asset files."""
    return Path(str(files("fastapi_offline") / "static"))


def _page(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(DOCS_HEADERS)
    return response


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, its "Try it out" calling this service."""
    root = request.scope.get("root_path", "")
    return _page(
        get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc for ``/openapi.json``, without Google's fonts."""
    root = request.scope.get("root_path", "")
    return _page(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    """One of the docs' asset files; 404 for any other name."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no docs asset {name!r}")
    return FileResponse(
        assets_folder() / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", **DOCS_HEADERS},
    )
