"""``GET /``: a page that prices one house, for people with a browser.

The form submits with GET to ``/`` itself, so the answers live in the URL: a
result can be shared, and the page works without JavaScript, the server
rendering the estimate whenever a field is in the query. It is priced by
``score_rows``, the one path of ``/api/v1/predict`` and ``/v2``, so the page
shows the API's price for the same row. ``app/static/page.js`` only spares
the reload. The page's styles and script are local files (no CDN, no inline
code), under a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse, HTMLResponse

from app import __version__
from app.api.deps import ServedModelDep, SettingsDep
from app.api.predict import score_rows
from app.page_fields import form_fields
from app.page_render import ASSETS_URL, Estimate, PageContent, render_page
from app.static_files import listed_file
from regression_model import EXAMPLE_HOUSE, ROW_LEVEL

STATIC_FOLDER = Path(__file__).resolve().parents[1] / "static"
ASSETS = {"page.css": "text/css", "page.js": "text/javascript"}
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
KEYS_NOTICE = (
    "This service requires an API key, so this page cannot price a house. "
    "Send the row to POST /api/v1/predict with your X-API-Key header."
)
NOT_LOADED_NOTICE = "The model is not loaded yet; try again in a moment."
# How the page names a problem with the row as a whole rather than one field.
WHOLE_ROW = "The house"

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, settings: SettingsDep, served: ServedModelDep
) -> HTMLResponse:
    """The form, prefilled with the example house; with a query, also its estimate.

    A refused field is a 200 page with the message beside the field; 403
    when API keys guard pricing, 503 before the model is loaded.
    """
    main, rest = form_fields()
    asked = {
        f.name: request.query_params[f.name]
        for f in (*main, *rest)
        if f.name in request.query_params
    }
    content = PageContent(
        title=settings.service_name,
        api_version=__version__,
        model_version=served.version if served else None,
        values=asked or {name: _text(value) for name, value in EXAMPLE_HOUSE.items()},
        required=frozenset(served.metadata.config.required_features)
        if served
        else frozenset(),
    )
    code = status.HTTP_200_OK
    if asked and settings.api_keys:
        content, code = replace(content, notice=KEYS_NOTICE), status.HTTP_403_FORBIDDEN
    elif asked and served is None:
        content, code = (
            replace(content, notice=NOT_LOADED_NOTICE),
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    elif asked and served is not None:
        result = await score_rows([asked], settings, served, request, explain=True)
        content = replace(content, estimate=estimate_of(result))
    return HTMLResponse(render_page(content, main, rest), code, headers=PAGE_HEADERS)


def estimate_of(result: Mapping[str, Any]) -> Estimate:
    """The page's view of one row's prediction result.

    Intervals and explanations are read when the result carries them
    (``intervals``, ``interval_coverage``, ``explanations``) and left out
    otherwise.
    """
    errors: dict[str, list[str]] = {}
    for error in result["errors"]:
        field = WHOLE_ROW if error["field"] == ROW_LEVEL else error["field"]
        errors.setdefault(field, []).append(error["message"])
    interval = (result.get("intervals") or [None])[0]
    explanation: Mapping[str, Any] = next(
        (item for item in result.get("explanations") or [] if item.get("row") == 0), {}
    )
    imputed: list[str] = next(
        (item["fields"] for item in result["imputed"] if item["row"] == 0), []
    )
    return Estimate(
        price=result["predictions"][0] if result["predictions"] else None,
        errors=errors,
        interval=(float(interval[0]), float(interval[1])) if interval else None,
        coverage=result.get("interval_coverage"),
        base_log_price=explanation.get("base_log_price"),
        contributions=explanation.get("contributions") or (),
        imputed=imputed,
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    """The page's stylesheet or script; 404 for any other name."""
    return listed_file(
        STATIC_FOLDER,
        name,
        media_types=ASSETS,
        headers={"Cache-Control": "no-cache", **PAGE_HEADERS},
        kind="page asset",
    )


def _text(value: object) -> str:
    """A form value: empty for missing, ``60`` rather than ``60.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
