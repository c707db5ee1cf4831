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

from collections.abc import Callable
from functools import partial
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.static_files import listed_file

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


def _docs_page(
    request: Request,
    tool: str,
    render: Callable[..., HTMLResponse],
    **asset_urls: str,
) -> HTMLResponse:
    """``render``'s page of this app's schema, with the docs' headers.

    ``asset_urls`` maps each of ``render``'s asset arguments to a file in
    ``ASSETS``; its URL, like the schema's, is under the app's root path.
    """
    root = request.scope.get("root_path", "")
    response = render(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - {tool}",
        **{
            argument: f"{root}{ASSETS_URL}/{name}"
            for argument, name in asset_urls.items()
        },
    )
    response.headers.update(DOCS_HEADERS)
    return response


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, its "Try it out" calling this service."""
    return _docs_page(
        request,
        "Swagger UI",
        get_swagger_ui_html,
        swagger_js_url="swagger-ui-bundle.js",
        swagger_css_url="swagger-ui.css",
        swagger_favicon_url="favicon.png",
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc for ``/openapi.json``, without Google's fonts."""
    return _docs_page(
        request,
        "ReDoc",
        partial(get_redoc_html, with_google_fonts=False),
        redoc_js_url="redoc.standalone.js",
        redoc_favicon_url="favicon.png",
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    """One of the docs' asset files; 404 for any other name."""
    return listed_file(
        assets_folder(),
        name,
        media_types=ASSETS,
        headers={"Cache-Control": "public, max-age=86400", **DOCS_HEADERS},
        kind="docs asset",
    )
