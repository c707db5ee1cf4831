"""Files served by name from one folder: only the names an allow-list holds.

The docs' assets and the page's stylesheet and script are served this one
way. The name in the URL must be a key of the list, so no request reaches
another file, and each file goes out with the media type listed for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import HTTPException, status
from fastapi.responses import FileResponse


def listed_file(
    folder: Path,
    name: str,
    *,
    media_types: Mapping[str, str],
    headers: Mapping[str, str],
    kind: str,
) -> FileResponse:
    """``folder / name`` if ``media_types`` lists ``name``; else a 404 naming ``kind``."""
    media_type = media_types.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {kind} {name!r}")
    return FileResponse(folder / name, media_type=media_type, headers=dict(headers))
