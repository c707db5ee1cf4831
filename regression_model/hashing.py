"""SHA-256 of files: how artifacts are verified and wheels are pinned.

Standard library only: the build and publish scripts import it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex (what pip's ``--hash=sha256:`` checks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
