"""Strict JSON bodies: a JSON content type, uncompressed, RFC 8259 only, bounded nesting.

Python's ``json`` module accepts ``NaN`` and ``Infinity`` (which no other
JSON parser does, and which would slip a non-number past the schema as
"missing"), lets the last of two equal keys win silently (parsers disagree
on which wins, so a proxy, a client library and this service could each read
a different value), and raises ``RecursionError`` or a digit-limit ``ValueError`` on
hostile input. This route parses bodies so that each of these becomes a
client error with a reason, and refuses non-JSON content types and
compressed bodies with 415 instead of trying to validate raw bytes; a body
is never decompressed, so a compression bomb costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from email.message import Message
from functools import lru_cache
from typing import Any, NoReturn

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute


class _NonStandardConstantError(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's extensions to JSON."""


class _DuplicateKeyError(ValueError):
    """An object names one key twice: which value the client meant is ambiguous."""


# Keys in error messages are cut short: a client may send a megabyte-long one.
_KEY_SHOWN = 40


def _reject_constant(name: str) -> NoReturn:
    raise _NonStandardConstantError(
        f"{name} is not valid JSON; send null for a missing value"
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= _KEY_SHOWN else f"{key[:_KEY_SHOWN]}..."
                raise _DuplicateKeyError(
                    f"the key {shown!r} appears twice in one object; send it once"
                )
            seen.add(key)
    return obj


def parse_strict_json(body: bytes) -> Any:
    """Parse a body as standard JSON; raise ``JSONDecodeError`` saying what is wrong."""
    try:
        return json.loads(
            body, parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except json.JSONDecodeError:
        raise
    except RecursionError as error:
        raise json.JSONDecodeError("nesting is too deep", "", 0) from error
    except (_NonStandardConstantError, _DuplicateKeyError) as error:
        raise json.JSONDecodeError(str(error), "", 0) from error
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError("the body is not UTF-8 text", "", 0) from error
    except ValueError as error:  # Python refuses integers of 4,300+ digits
        raise json.JSONDecodeError("a number has too many digits", "", 0) from error


@lru_cache(maxsize=64)
def is_json_content_type(value: str | None) -> bool:
    """True for ``application/json`` and ``application/*+json``, with any parameters.

    The header is parsed as the standard library's e-mail parser parses it
    (the reference parse of a MIME type) and the verdict cached: building a
    ``Message`` per request cost more than the rest of the route's checks,
    and clients send the same few values again and again.
    """
    if not value:
        return False
    message = Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJSONRequest(Request):
    """A request whose ``json()`` is ``parse_strict_json``, parsed once and kept."""

    _strict_json: Any

    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_strict_json(await self.body())
        return self._strict_json


def is_uncompressed(value: str | None) -> bool:
    """True when ``Content-Encoding`` is absent or ``identity``."""
    return value is None or value.strip().lower() in {"", "identity"}


def _check_body_headers(request: Request) -> None:
    """415 for a body that is not JSON or is compressed, before a byte of it is read."""
    if not is_uncompressed(request.headers.get("content-encoding")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="compressed bodies are not accepted; send the JSON uncompressed",
            headers={"Accept-Encoding": "identity"},
        )
    if not is_json_content_type(request.headers.get("content-type")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="send the body as JSON with Content-Type: application/json",
        )


def strict_request(request: Request) -> StrictJSONRequest:
    """``request`` as a ``StrictJSONRequest``, after the 415 checks on its headers."""
    if request.method in {"POST", "PUT", "PATCH"}:
        _check_body_headers(request)
    return StrictJSONRequest(request.scope, request.receive)


class StrictJSONRoute(APIRoute):
    """A route that accepts only uncompressed JSON bodies, parsed strictly."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(strict_request(request))

        return strict_handler
