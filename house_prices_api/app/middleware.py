"""Pure ASGI middleware: request ids, access lines, body caps, a last-resort 500.

Written against ASGI directly rather than ``BaseHTTPMiddleware`` so that
bodies stream through untouched (the size cap counts them as they arrive)
and the request id's context variable is set in the task that runs the app.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterable

from loguru import logger
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import AccessWriter, RequestLog, current_request, current_request_id

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_HEADER_RAW = REQUEST_ID_HEADER.lower().encode("latin-1")
# Ids from clients are logged verbatim, so only harmless ones are kept.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def choose_request_id(raw_headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` if it is safe to log, else a new random one.

    Reads the raw ASGI header list: building a ``Headers`` object for one
    look-up cost more than the look-up.
    """
    for name, value in raw_headers:
        if name.lower() == REQUEST_ID_HEADER_RAW:
            given = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def loggable_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded.

    The decoded ``path`` turns ``%0A`` into a line break, which would let a
    client forge log lines; the raw bytes of the request line hold none.
    """
    raw = scope.get("raw_path")
    if raw:
        return bytes(raw).decode("latin-1")
    return str(scope["path"]).encode("unicode_escape").decode("ascii")


class RequestContextMiddleware:
    """Tags each request with an id (logged on every line, echoed in the response).

    Writes one access line per request at INFO, once it is answered: method,
    path, status, time, and what the app noted about its work (rows priced).
    Never the body or the query string, which may carry client data.
    """

    def __init__(self, app: ASGIApp, write_access: AccessWriter) -> None:
        self.app = app
        self.write_access = write_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(scope["headers"])
        request = RequestLog(request_id)
        token = current_request.set(request)
        started = time.perf_counter()
        status = 0
        id_header = (REQUEST_ID_HEADER_RAW, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            outcome = f"; {request.outcome}" if request.outcome else ""
            self.write_access(
                request_id,
                f"{scope['method']} {loggable_path(scope)} -> {status or 'no response'} "
                f"in {elapsed_ms:.1f} ms{outcome}",
            )
            current_request.reset(token)


class BodyTooLargeError(HTTPException):
    """The body is over ``MAX_BODY_BYTES``; raised while it is being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=body_limit_message(limit))


def body_limit_message(limit: int) -> str:
    """The 413 message, naming the limit so a client can split its batch."""
    return f"request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)"


class BodyTimeoutError(HTTPException):
    """The body did not arrive within ``BODY_TIMEOUT_SECONDS``; raised while reading it.

    The rest of the body may still be on its way, so the connection cannot
    carry another request: the 408 closes it.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            detail=f"the request body did not arrive within the limit of {timeout:g} s "
            "(BODY_TIMEOUT_SECONDS)",
            headers={"Connection": "close"},
        )


def declared_length(headers: Headers) -> int | None:
    """The Content-Length as a number, or ``None`` when absent (chunked bodies)."""
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodySizeLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with 413, and bodies slower than ``timeout``.

    A declared Content-Length over the limit is refused before any byte is
    read; a chunked body (or one that lies about its length) is counted as it
    arrives and refused as soon as the count passes the limit. The whole body
    must arrive within ``timeout`` seconds of the request's start, however it
    is dribbled (uvicorn itself has no such limit), or the reader gets 408.
    A request framed two ways (Content-Length and Transfer-Encoding) is how
    requests are smuggled past proxies: it gets 400 and its connection closed,
    as RFC 9112 (section 6.3) asks and h11 does not do by itself.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "content-length" in headers and "transfer-encoding" in headers:
            response = error_response(
                400, "a request cannot carry both Content-Length and Transfer-Encoding"
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        declared = declared_length(headers)
        if declared is not None and declared > self.limit:
            response = error_response(413, body_limit_message(self.limit))
            await response(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout
        received = 0
        body_complete = False

        async def guarded_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:  # later reads wait for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError(self.limit)
            body_complete = not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)


class UnexpectedErrorMiddleware:
    """Turns an unhandled exception into a plain JSON 500, never a stack trace.

    The traceback goes to the log under the request id. Unlike Starlette's own
    500 handler this does not re-raise, so the server keeps the connection
    alive after the error.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = (
                response_started or message["type"] == "http.response.start"
            )
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error while serving the request")
            if response_started:
                raise
            response = error_response(500, "internal error; quote the request id")
            await response(scope, receive, send)


def error_response(status_code: int, detail: str) -> JSONResponse:
    """The body of every request-level error: the reason and the request id."""
    return JSONResponse(
        {"detail": detail, "request_id": current_request_id()}, status_code=status_code
    )
