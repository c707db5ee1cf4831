"""Capture a released version's predictions from its wheel on the package index.

``tox -e capture_release`` publishes the current build (if the index does not
hold this VERSION yet), installs ``ames-house-price-model==VERSION`` from the
index into a fresh environment, and runs ``differential/capture.py`` there in
isolated mode. The file it writes, ``differential/captured/v<VERSION>.json``,
is committed with the release: later versions are judged against it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from scripts.package_index import (
    DEFAULT_INDEX_DIR,
    REPO_ROOT,
    build_wheel,
    index_is_up,
    is_loopback,
    local_index_url,
    publish,
    start_local_index,
    upload_url_for,
)

DIFFERENTIAL_DIR = REPO_ROOT / "differential"
INSTALL_MODEL_SCRIPT = REPO_ROOT / "house_prices_api" / "bin" / "install-model"
RUNTIME_REQUIREMENTS = REPO_ROOT / "requirements" / "runtime.txt"


def install_release(venv_dir: Path, index_url: str, version: str) -> Path:
    """A fresh environment holding exactly the released wheel; return its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    python = venv_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(RUNTIME_REQUIREMENTS)],
        check=True,
    )
    subprocess.run(
        [str(INSTALL_MODEL_SCRIPT), "--quiet"],
        check=True,
        env={
            **os.environ,
            "PYTHON": str(python),
            "MODEL_INDEX_URL": index_url,
            "MODEL_VERSION": version,
        },
    )
    return python


def capture_release(python: Path, version: str, out_dir: Path) -> Path:
    """Run the capture with the installed wheel, never the checkout (``-I``)."""
    out = out_dir / f"v{version}.json"
    subprocess.run(
        [
            str(python), "-I", str(DIFFERENTIAL_DIR / "capture.py"),
            "--test-csv", str(REPO_ROOT / "regression_model" / "datasets" / "test.csv"),
            "--edge-cases", str(DIFFERENTIAL_DIR / "edge_cases.json"),
            "--out", str(out),
        ],
        check=True,
        cwd=tempfile.gettempdir(),
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Publish (if needed), install the release from the index, capture it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index-url", default=os.environ.get("MODEL_INDEX_URL") or local_index_url()
    )
    parser.add_argument(
        "--version",
        default=(REPO_ROOT / "regression_model" / "VERSION").read_text().strip(),
    )
    parser.add_argument("--out-dir", type=Path, default=DIFFERENTIAL_DIR / "captured")
    parser.add_argument(
        "--no-publish", action="store_true", help="the index already holds the release"
    )
    args = parser.parse_args(argv)
    if is_loopback(args.index_url) and not index_is_up(args.index_url):
        start_local_index(DEFAULT_INDEX_DIR)
    if not args.no_publish:
        with tempfile.TemporaryDirectory() as outdir:
            wheel = build_wheel(Path(outdir))
            print(publish(wheel, args.index_url, upload_url_for(args.index_url)))
    with tempfile.TemporaryDirectory() as scratch:
        python = install_release(
            Path(scratch) / "release-env", args.index_url, args.version
        )
        out = capture_release(python, args.version, args.out_dir)
    print(f"captured the released v{args.version} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
