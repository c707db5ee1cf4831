"""Capture a released version's predictions from its wheel on the package index.

``tox -e capture_release`` publishes the current build (if the index does not
hold this VERSION yet), reads the index's copy back (its content must be this
build's), installs ``ames-house-price-model==VERSION`` by that copy's SHA-256
into a fresh environment, and runs ``differential/capture.py`` there in
isolated mode. The file it writes, ``differential/captured/v<VERSION>.json``,
records the wheel's name and SHA-256 too and is committed with the release:
later versions are judged against it, and the service's pin
(``house_prices_api/requirements-model.txt``, written with ``--pin-service``)
must name the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from regression_model.config.core import package_version
from scripts.package_index import (
    DEFAULT_INDEX_DIR,
    REPO_ROOT,
    build_wheel,
    index_is_up,
    install_model,
    is_loopback,
    local_index_url,
    publish,
    published_sha256,
    start_local_index,
    upload_url_for,
)

DIFFERENTIAL_DIR = REPO_ROOT / "differential"
SERVICE_PIN_FILE = REPO_ROOT / "house_prices_api" / "requirements-model.txt"
PIN_LINE = re.compile(r"^ames-house-price-model==\S+ --hash=sha256:[0-9a-f]{64}$", re.M)
RUNTIME_REQUIREMENTS = REPO_ROOT / "requirements" / "runtime.txt"


def install_release(venv_dir: Path, index_url: str, version: str, sha256: str) -> Path:
    """A fresh environment holding exactly the released wheel; return its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    python = venv_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(RUNTIME_REQUIREMENTS)],
        check=True,
    )
    install_model(python, index_url, version, sha256, "--quiet")
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


def record_wheel(captured: Path, wheel_name: str, sha256: str) -> None:
    """Add the released wheel's file name and SHA-256 to its capture."""
    data = json.loads(captured.read_text())
    data["wheel"] = {"file": wheel_name, "sha256": sha256}
    captured.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def pin_service(version: str, sha256: str, pins: Path = SERVICE_PIN_FILE) -> None:
    """Point the service's pin at this release: its exact version and SHA-256."""
    text = pins.read_text()
    line = f"ames-house-price-model=={version} --hash=sha256:{sha256}"
    updated, count = PIN_LINE.subn(line, text)
    if count != 1:
        raise SystemExit(f"expected one pin line in {pins}, found {count}")
    pins.write_text(updated)


def main(argv: list[str] | None = None) -> int:
    """Publish (if needed), install the release from the index by hash, capture it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index-url", default=os.environ.get("MODEL_INDEX_URL") or local_index_url()
    )
    parser.add_argument("--out-dir", type=Path, default=DIFFERENTIAL_DIR / "captured")
    parser.add_argument(
        "--no-publish", action="store_true", help="the index already holds the release"
    )
    parser.add_argument(
        "--pin-service",
        action="store_true",
        help="also pin house_prices_api/requirements-model.txt to this release",
    )
    args = parser.parse_args(argv)
    version = package_version()
    if is_loopback(args.index_url) and not index_is_up(args.index_url):
        start_local_index(DEFAULT_INDEX_DIR)
    with tempfile.TemporaryDirectory() as outdir:
        wheel = build_wheel(Path(outdir))
        if not args.no_publish:
            print(publish(wheel, args.index_url, upload_url_for(args.index_url)))
        # The index's copy, read back and compared with this build, is the release.
        sha256 = published_sha256(args.index_url, wheel)
        wheel_name = wheel.name
    with tempfile.TemporaryDirectory() as scratch:
        python = install_release(
            Path(scratch) / "release-env", args.index_url, version, sha256
        )
        out = capture_release(python, version, args.out_dir)
    record_wheel(out, wheel_name, sha256)
    print(f"captured the released v{version} ({wheel_name}, sha256 {sha256}) into {out}")
    if args.pin_service:
        pin_service(version, sha256)
        print(f"pinned the service to it in {SERVICE_PIN_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
