"""Optional API keys: ``X-API-Key`` must match one of ``API_KEYS`` when any are set.

``create_app`` adds ``require_api_key`` to the prediction router only when
keys are configured, so the OpenAPI document declares the scheme exactly
when it is enforced. The check gives nothing away: every configured key is
compared, in constant time, whatever the outcome, and a missing key and a
wrong one get the same 401, byte for byte. Keys are secrets in the settings
(``SecretStr``) and never reach a log line.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import HTTPException, Security, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from app.api.deps import SettingsDep
from app.schemas import ErrorResponse

API_KEY_HEADER = "X-API-Key"
UNAUTHORIZED_DETAIL = f"a valid API key is required in the {API_KEY_HEADER} header"
# RFC 9110 asks a 401 to name a scheme; API keys have no registered one.
WWW_AUTHENTICATE = f'APIKey header="{API_KEY_HEADER}"'
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "model": ErrorResponse,
        "description": f"{API_KEY_HEADER} is missing or not one of the API_KEYS",
    }
}

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="APIKey",
    description="One of the keys the operator set in API_KEYS.",
    auto_error=False,
)


def _digest(value: str) -> bytes:
    # Hashing first gives both sides the same length, so even the length of a
    # key cannot be timed; hmac.compare_digest then compares in constant time.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def is_valid_key(given: str | None, keys: Sequence[SecretStr]) -> bool:
    """True if ``given`` equals one of ``keys``; every key is compared, always."""
    given_digest = _digest(given or "")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given_digest, _digest(key.get_secret_value()))
    return matched and given is not None


def ensure_valid_key(given: str | None, keys: Sequence[SecretStr]) -> None:
    """Raise the 401 unless ``given`` is one of ``keys`` (``None``: no key sent)."""
    if not is_valid_key(given, keys):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=UNAUTHORIZED_DETAIL,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )


async def require_api_key(
    settings: SettingsDep,
    given: Annotated[str | None, Security(api_key_header)],
) -> None:
    """401 unless the request's ``X-API-Key`` is one of the configured keys.

    ``async`` so that FastAPI runs it on the loop: hashing a few keys costs
    less than a hop to the thread pool.
    """
    ensure_valid_key(given, settings.api_keys)
