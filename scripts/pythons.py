"""The Python versions the model wheel supports, and where this machine has them.

The installed-wheel test runs on each one found; ``.ci/run`` prints what was
found, so a CI log says plainly which versions were tested. Standard library
only: it runs from any Python.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

# The versions pyproject.toml's requires-python admits (>=3.11,<3.14).
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
PYENV_VERSIONS = Path.home() / ".pyenv" / "versions"


def find_python(version: str) -> Path | None:
    """An interpreter of ``version`` (``"3.12"``): on PATH, else under pyenv.

    Each candidate is asked its version: a pyenv shim on PATH exists even
    when it cannot run that version.
    """
    on_path = shutil.which(f"python{version}")
    under_pyenv = sorted(glob.glob(f"{PYENV_VERSIONS}/{version}.*/bin/python{version}"))
    for candidate in [on_path, *reversed(under_pyenv)]:
        if candidate and _reports(Path(candidate), version):
            return Path(candidate)
    return None


def where_looked(version: str) -> str:
    """Where ``find_python`` looks, for a message saying a version was not found."""
    return f"python{version} on PATH, {PYENV_VERSIONS}/{version}.*/bin/python{version}"


def _reports(python: Path, version: str) -> bool:
    try:
        completed = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return completed.returncode == 0 and completed.stdout.strip() == version


def main() -> int:
    """Print each supported version and the interpreter found for it, or that none was."""
    for version in SUPPORTED_PYTHONS:
        found = find_python(version)
        where = found or f"not found (looked for {where_looked(version)}): its test skips"
        print(f"Python {version}: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
