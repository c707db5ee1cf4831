"""Rolling the service back is one pin line: a newer patch serves, then this checkout's.

Two versions of the model, both built here, sit on a real package index: the
checkout's and a newer patch built from a copy of the checkout with another
label-encoding smoothing, so its predictions differ. The service is deployed
from a copy of its folder with the pin at the newer version, then rolled back by changing
that one line and reinstalling with bin/install-model into the same
environment. After the rollback it must answer as the checkout's model does
in this process (within 1e-9 relative), from the installed wheel.

Nothing here depends on rebuilding a released wheel to the byte: each pin
names the SHA-256 of a wheel this test built and published. (Byte-identical
rebuilds hold per machine class; ``test_package_index`` checks them on this
machine, and ``test_model_pin`` that the committed pin names its capture.)

It trains and builds a second wheel and installs the service's requirements
from PyPI into a fresh virtual environment.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from servers import (
    API_DIR,
    REPO_ROOT,
    RunningServer,
    call,
    free_port,
    model_imported_from,
    start_server,
)

from differential.capture import capture, fixed_inputs
from regression_model import make_prediction
from regression_model.config.core import package_version
from scripts.package_index import (
    build_wheel,
    publish,
    published_sha256,
    start_local_index,
    stop_local_index,
    upload_url_for,
)
from scripts.serve import LEAKY_VARIABLES, ensure_api_env, service_env

pytestmark = pytest.mark.process


def next_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


CURRENT = package_version()
NEWER = next_patch(CURRENT)
TEST_CSV = REPO_ROOT / "regression_model" / "datasets" / "test.csv"
EDGE_CASES = REPO_ROOT / "differential" / "edge_cases.json"
PIN_FILE = "requirements-model.txt"
PIN_LINE = re.compile(r"^ames-house-price-model==\S+ --hash=sha256:[0-9a-f]{64}$", re.M)
# Not a searched hyper-parameter (the model tests pin those to the selection record),
# but one that moves every price: the smoothing of the label encoding.
CURRENT_SETTING = "mean_encoding_smoothing: 10.0\n"
NEWER_SETTING = "mean_encoding_smoothing: 20.0\n"


def pin_line(version: str, sha256: str) -> str:
    return f"ames-house-price-model=={version} --hash=sha256:{sha256}"


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path``; fail if there is not one."""
    text = path.read_text()
    assert text.count(old) == 1, f"expected {old!r} once in {path}"
    path.write_text(text.replace(old, new))


def without_leaks() -> dict[str, str]:
    """This process's environment minus what could import the checkout's model."""
    return {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES}


def copy_working_tree(destination: Path) -> None:
    """Copy the checkout's files (tracked or not ignored) as they are now, no .git."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the tree is skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def build_newer_wheel(workdir: Path) -> Path:
    """The checkout with VERSION bumped and another label smoothing, trained: a wheel."""
    source = workdir / "source"
    copy_working_tree(source)
    package = source / "regression_model"
    replace_once(package / "VERSION", CURRENT, NEWER)
    replace_once(package / "config.yml", CURRENT_SETTING, NEWER_SETTING)
    subprocess.run(
        [sys.executable, "-m", "regression_model.train_pipeline"],
        cwd=source,
        env={**without_leaks(), "PYTHONPATH": str(source), "PYTHONHASHSEED": "0"},
        check=True,
    )
    outdir = workdir / "wheel"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(source)],
        check=True,
    )
    (wheel,) = outdir.glob(f"*-{NEWER}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rollback")


@pytest.fixture(scope="module")
def index(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A pypiserver holding the checkout's and the newer wheel, both built here: its
    URL, and the SHA-256 of each version's copy there."""
    folder = workdir / "index"
    try:
        url = start_local_index(folder, free_port())
        hashes = {}
        for version, wheel in (
            (CURRENT, build_wheel(workdir / "current")),
            (NEWER, build_newer_wheel(workdir)),
        ):
            print(publish(wheel, url, upload_url_for(url)))
            hashes[version] = published_sha256(url, wheel)
        yield url, hashes
    finally:
        stop_local_index(folder)


@pytest.fixture(scope="module")
def api_python(workdir: Path) -> Path:
    """One fresh environment with the service's requirements, no model in it yet."""
    with pytest.MonkeyPatch.context() as patch:
        for name in LEAKY_VARIABLES:
            patch.delenv(name, raising=False)
        return ensure_api_env(workdir / "venv")


def deploy_folder(destination: Path, hashes: dict[str, str]) -> Path:
    """A copy of the service's folder as it ships (no tests), the pin at NEWER."""
    shutil.copytree(
        API_DIR, destination, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    pins = destination / PIN_FILE
    text = pins.read_text()
    assert len(PIN_LINE.findall(text)) == 1, text
    pins.write_text(PIN_LINE.sub(pin_line(NEWER, hashes[NEWER]), text))
    return destination


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a deploy folder by relative path (bytecode caches left out)."""
    return {
        str(path.relative_to(folder)): path.read_text(errors="replace")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def install_and_serve(
    deploy: Path, python: Path, index_url: str, log: Path
) -> RunningServer:
    """What a deploy does: install the folder's pin with its script, start the server."""
    subprocess.run(
        [str(deploy / "bin" / "install-model"), "--quiet"],
        env={**without_leaks(), "PYTHON": str(python), "MODEL_INDEX_URL": index_url},
        check=True,
    )
    venv_dir = python.parent.parent
    port = free_port()
    return start_server(
        [str(deploy / "bin" / "start")],
        log,
        port=port,
        env=service_env(venv_dir, "127.0.0.1", port),
        unset=LEAKY_VARIABLES,
        cwd=deploy.parent,
    )


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as a client sends them: missing values (NaN) as null."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


def predictor_over_http(server: RunningServer) -> Callable[..., Mapping[str, Any]]:
    """``make_prediction``'s signature, answered by POST /api/v1/predict."""

    def predict(*, input_data: list[dict[str, Any]]) -> Mapping[str, Any]:
        connection = server.connect()
        status, _, body = call(
            connection, "POST", "/api/v1/predict", {"inputs": input_data}
        )
        connection.close()
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    return predict


def captured_over_http(server: RunningServer) -> dict[str, Any]:
    """The server's answers on the differential inputs, summarised as at release."""
    keys, rows, prices = fixed_inputs(TEST_CSV, EDGE_CASES, "SalePrice")
    return capture(keys, json_rows(rows), prices, predictor_over_http(server))


def health_of(server: RunningServer) -> dict[str, Any]:
    connection = server.connect()
    status, _, health = call(connection, "GET", "/api/v1/health")
    connection.close()
    assert status == 200, health
    return health  # type: ignore[no-any-return]


def same_price(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9)


def test_rolling_back_the_pin_serves_the_checkouts_predictions_again(
    workdir: Path, index: tuple[str, dict[str, str]], api_python: Path
) -> None:
    index_url, hashes = index
    keys, rows, prices = fixed_inputs(TEST_CSV, EDGE_CASES, "SalePrice")
    checkout = capture(keys, json_rows(rows), prices, make_prediction)
    deploy = deploy_folder(workdir / "deploy" / "house_prices_api", hashes)

    # Given the service deployed with the pin at the newer version
    before_rollback = snapshot(deploy)
    server = install_and_serve(deploy, api_python, index_url, workdir / "newer.log")
    try:
        newer_health = health_of(server)
        newer = captured_over_http(server)
    finally:
        server.stop()

    # When the pin line alone goes back to the checkout's version, and it is redeployed
    replace_once(
        deploy / PIN_FILE,
        pin_line(NEWER, hashes[NEWER]),
        pin_line(CURRENT, hashes[CURRENT]),
    )
    after_rollback = snapshot(deploy)
    server = install_and_serve(deploy, api_python, index_url, workdir / "rolled-back.log")
    try:
        rolled_back_health = health_of(server)
        rolled_back = captured_over_http(server)
        imported_from = model_imported_from(server)
    finally:
        server.stop()

    # Then the newer version served, with its own predictions
    assert newer_health["model_version"] == NEWER
    assert newer_health["model_package_version"] == NEWER
    assert newer["version"] == NEWER
    held_out = [key for key in checkout["predictions"] if key.startswith("test-")]
    assert len(held_out) >= 50
    changed = [
        key
        for key in held_out
        if not same_price(newer["predictions"][key], checkout["predictions"][key])
    ]
    assert len(changed) == len(held_out), f"unchanged: {set(held_out) - set(changed)}"

    # ... the two deploys differ in the pin line and nothing else
    assert before_rollback.keys() == after_rollback.keys()
    differing = [f for f in before_rollback if before_rollback[f] != after_rollback[f]]
    assert differing == [PIN_FILE]
    changed_lines = [
        line
        for line in difflib.ndiff(
            before_rollback[PIN_FILE].splitlines(), after_rollback[PIN_FILE].splitlines()
        )
        if line.startswith(("- ", "+ "))
    ]
    assert changed_lines == [
        f"- {pin_line(NEWER, hashes[NEWER])}",
        f"+ {pin_line(CURRENT, hashes[CURRENT])}",
    ]
    committed = (API_DIR / PIN_FILE).read_text()
    assert PIN_LINE.sub("", after_rollback[PIN_FILE]) == PIN_LINE.sub("", committed)

    # ... and the rolled-back service is the checkout's wheel, from the venv, answering
    # what the checkout's model answers here
    assert rolled_back_health["model_version"] == CURRENT
    assert rolled_back_health["model_package_version"] == CURRENT
    assert imported_from.is_relative_to(api_python.parent.parent.resolve() / "lib")
    assert "site-packages" in imported_from.parts
    assert not imported_from.is_relative_to(REPO_ROOT / "regression_model")
    assert rolled_back["version"] == checkout["version"] == CURRENT
    assert rolled_back["inputs_sha256"] == checkout["inputs_sha256"]
    assert rolled_back["errors"] == checkout["errors"]
    assert rolled_back["predictions"].keys() == checkout["predictions"].keys()
    mismatched = {
        key: (got, checkout["predictions"][key])
        for key, got in rolled_back["predictions"].items()
        if not same_price(got, checkout["predictions"][key])
    }
    assert not mismatched
