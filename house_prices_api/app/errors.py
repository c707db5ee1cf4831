"""Exception handlers: every request-level error has one JSON shape with the request id.

FastAPI's default validation body echoes the offending input back, which for
a 20 MB batch means a 20 MB error; these handlers keep the type, location
and message only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.logs import current_request_id
from app.middleware import error_response


def validation_issues(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors minus their ``input``: the client's own, possibly huge, data."""
    issues = []
    for error in errors:
        message = str(error.get("msg", "invalid"))
        reason = error.get("ctx", {}).get("error")
        if error.get("type") == "json_invalid" and reason:
            message = f"{message}: {reason}"
        issues.append(
            {
                "type": str(error.get("type", "value_error")),
                "loc": [
                    part if isinstance(part, int) else str(part)
                    for part in error.get("loc", ())
                ],
                "msg": message,
            }
        )
    return issues


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """422 with a machine-readable list of what is wrong with the envelope."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": validation_issues(error.errors()), "request_id": current_request_id()},
        status_code=422,
    )


async def handle_http_exception(request: Request, error: Exception) -> JSONResponse:
    """Any ``HTTPException`` (404, 405, 413, 415, 503...) in the common error shape."""
    assert isinstance(error, HTTPException)
    response = error_response(error.status_code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
