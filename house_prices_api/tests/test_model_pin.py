"""The model wheel is installed by exact version and SHA-256, from the project's index.

A real pypiserver holds a small stand-in wheel of the model's name; pip is
run by ``bin/install-model`` exactly as a deploy runs it, installing into a
scratch folder (``--target``). The pin must install the wheel whose bytes it
names and refuse any other file under the same name and version: a wheel
replaced on the index, or one a proxy or cache altered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import API_DIR, REPO_ROOT, free_port
from stand_in_wheels import stand_in_wheel as make_stand_in_wheel
from stand_in_wheels import wheel_name

from regression_model.hashing import file_sha256
from scripts.package_index import (
    publish,
    published_sha256,
    start_local_index,
    stop_local_index,
    upload_url_for,
)

VERSION = "0.0.7"
WHEEL_NAME = wheel_name(VERSION)
PAYLOAD = "ames_house_price_model_stub/payload.txt"
PIN_LINE = re.compile(
    r"^ames-house-price-model==(\d+\.\d+\.\d+) --hash=sha256:([0-9a-f]{64})$", re.M
)
HASH_MISMATCH = "DO NOT MATCH THE HASHES"


def stand_in_wheel(folder: Path, payload: str) -> Path:
    """A valid wheel of the model's name and ``VERSION`` carrying ``payload``."""
    return make_stand_in_wheel(folder, VERSION, {PAYLOAD: payload.encode()})


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A pypiserver holding the released stand-in: its URL, folder and the wheel."""
    folder = tmp_path / "index"
    released = stand_in_wheel(tmp_path / "released", "the released model")
    try:
        url = start_local_index(folder, free_port())
        publish(released, url, upload_url_for(url))
        yield url, folder, released
    finally:
        stop_local_index(folder)


def deploy_pinned_to(destination: Path, version: str, sha256: str) -> Path:
    """A copy of the service's folder (no tests), pinned to ``version`` and ``sha256``."""
    shutil.copytree(
        API_DIR, destination, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    pins = destination / "requirements-model.txt"
    text = pins.read_text()
    assert len(PIN_LINE.findall(text)) == 1
    pins.write_text(
        PIN_LINE.sub(f"ames-house-price-model=={version} --hash=sha256:{sha256}", text)
    )
    return destination


def install(
    api_dir: Path, index_url: str, target: Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """``bin/install-model`` into ``target``, as a deploy runs it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODEL_")},
        "MODEL_INDEX_URL": index_url,
        "PYTHON": shutil.which("python") or "python",
        **overrides,
    }
    return subprocess.run(
        [str(api_dir / "bin" / "install-model"), "--quiet", "--target", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def installed_payload(target: Path) -> str | None:
    path = target / PAYLOAD
    return path.read_text() if path.is_file() else None


@pytest.mark.process
def test_the_pin_installs_the_released_bytes(
    index: tuple[str, Path, Path], tmp_path: Path
) -> None:
    # Given a deploy pinned to the released wheel's version and hash
    url, _, released = index
    deploy = deploy_pinned_to(tmp_path / "api", VERSION, file_sha256(released))
    # When it installs the model
    completed = install(deploy, url, tmp_path / "site")
    # Then that wheel is installed
    assert completed.returncode == 0, completed.stderr
    assert installed_payload(tmp_path / "site") == "the released model"


@pytest.mark.parametrize("pinned_by", ["pin file", "MODEL_VERSION and MODEL_SHA256"])
@pytest.mark.process
def test_a_wheel_replaced_on_the_index_is_refused(
    pinned_by: str, index: tuple[str, Path, Path], tmp_path: Path
) -> None:
    # Given the release pinned by its hash, and the file on the index swapped
    # for another wheel of the same name and version
    url, folder, released = index
    sha256 = file_sha256(released)
    impostor = stand_in_wheel(tmp_path / "impostor", "someone else's model")
    shutil.copyfile(impostor, folder / WHEEL_NAME)
    deploy = deploy_pinned_to(tmp_path / "api", VERSION, sha256)
    overrides = (
        {}
        if pinned_by == "pin file"
        else {"MODEL_VERSION": VERSION, "MODEL_SHA256": sha256}
    )
    # When the deploy installs the model
    completed = install(deploy, url, tmp_path / "site", **overrides)
    # Then pip refuses the file, names the hashes, and installs nothing
    assert completed.returncode != 0
    assert HASH_MISMATCH in completed.stderr
    assert sha256 in completed.stderr
    assert file_sha256(impostor) in completed.stderr
    assert installed_payload(tmp_path / "site") is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"MODEL_VERSION": VERSION},
        {"MODEL_SHA256": "0" * 64},
        {"MODEL_VERSION": VERSION, "MODEL_SHA256": "not-a-hash"},
    ],
)
@pytest.mark.process
def test_a_version_without_its_hash_is_refused_before_pip_runs(
    overrides: dict[str, str], index: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, _, _ = index
    completed = install(API_DIR, url, tmp_path / "site", **overrides)
    assert completed.returncode == 2
    assert "MODEL_VERSION (x.y.z) and MODEL_SHA256 (64 hex digits)" in completed.stderr
    assert not (tmp_path / "site").exists()


@pytest.mark.process
def test_the_hash_to_pin_is_read_back_from_the_index(
    index: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, folder, released = index
    assert published_sha256(url, released) == file_sha256(folder / WHEEL_NAME)
    assert published_sha256(url, released) == file_sha256(released)


def test_the_committed_pin_is_the_released_wheel() -> None:
    # Given the service's pin and the record its release capture wrote
    pins = (API_DIR / "requirements-model.txt").read_text()
    [pin] = PIN_LINE.finditer(pins)
    version, sha256 = pin.groups()
    captured = REPO_ROOT / "differential" / "captured" / f"v{version}.json"
    release = json.loads(captured.read_text())["wheel"]
    # Then the pin names the released wheel's version and bytes, and nothing else
    assert release == {
        "file": f"ames_house_price_model-{version}-py3-none-any.whl",
        "sha256": sha256,
    }
    requirements = [
        line
        for line in pins.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert requirements == ["--index-url ${MODEL_INDEX_URL}", pin[0]]
