"""Publishing: a version is published once; the same build again is a no-op."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import REPO_ROOT, free_port

from regression_model.hashing import file_sha256
from scripts.package_index import (
    PublishError,
    build_wheel,
    publish,
    start_local_index,
    stop_local_index,
    upload_url_for,
    wheel_content,
)


@pytest.mark.parametrize(
    ("index_url", "upload_url"),
    [
        ("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/"),
        ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/"),
        ("https://pkgs.example/team/simple/", "https://pkgs.example/team/"),
        ("https://pkgs.example/upload/", "https://pkgs.example/upload/"),
    ],
)
def test_upload_url_is_the_index_root(index_url: str, upload_url: str) -> None:
    assert upload_url_for(index_url) == upload_url


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.process
def test_the_wheel_builds_byte_for_byte_again(built_wheel: Path, tmp_path: Path) -> None:
    # The service pins the wheel's SHA-256: the same sources must give the same bytes,
    # whenever and from wherever they are built (no timestamps, no stale build folder).
    stale = REPO_ROOT / "build" / "lib" / "regression_model"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "left_over_from_an_old_build.py").write_text("raise SystemExit\n")
    try:
        rebuilt = build_wheel(tmp_path)
    finally:
        (stale / "left_over_from_an_old_build.py").unlink()
    assert file_sha256(rebuilt) == file_sha256(built_wheel)
    with zipfile.ZipFile(rebuilt) as archive:
        assert not [n for n in archive.namelist() if "left_over" in n]
        assert {item.date_time for item in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.process
def test_the_index_script_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    # `python -m scripts.package_index stop` (and start, publish's checks) must work
    # from any Python 3.11, e.g. the one holding only tox: no site-packages at all.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from scripts.package_index import main; "
        "sys.exit(main(['stop', '--dir', sys.argv[2]]))"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(REPO_ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "no local index was running"


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "index"
    index_url = start_local_index(folder, free_port())
    yield index_url, folder
    stop_local_index(folder)


def _altered_copy(wheel: Path, folder: Path) -> Path:
    """The same wheel with one extra file, as a rebuilt model would differ."""
    folder.mkdir()
    altered = folder / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(altered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                data += b"regression_model/extra.txt,sha256=x,1\n"
            target.writestr(item, data)
        target.writestr("regression_model/extra.txt", "x")
    return altered


@pytest.mark.process
def test_publish_once_then_skip_identical_builds(
    built_wheel: Path, local_index: tuple[str, Path]
) -> None:
    index_url, folder = local_index

    first = publish(built_wheel, index_url, upload_url_for(index_url))
    again = publish(built_wheel, index_url, upload_url_for(index_url))

    assert first.startswith("published")
    assert "already published, identical" in again
    assert wheel_content(folder / built_wheel.name) == wheel_content(built_wheel)


@pytest.mark.process
def test_a_different_wheel_under_a_published_version_is_refused(
    built_wheel: Path, local_index: tuple[str, Path], tmp_path: Path
) -> None:
    index_url, folder = local_index
    publish(built_wheel, index_url, upload_url_for(index_url))
    altered = _altered_copy(built_wheel, tmp_path / "altered")

    with pytest.raises(PublishError, match="immutable"):
        publish(altered, index_url, upload_url_for(index_url))
    outcome = publish(altered, index_url, upload_url_for(index_url), replace_in=folder)

    assert "replacing" in outcome
    assert wheel_content(folder / built_wheel.name) == wheel_content(altered)


@pytest.mark.process
def test_the_local_index_never_falls_back_to_pypi(local_index: tuple[str, Path]) -> None:
    index_url, _ = local_index

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(index_url + "numpy/", timeout=10)

    assert missing.value.code == 404


def test_stopping_an_index_that_was_never_started_is_harmless(tmp_path: Path) -> None:
    assert stop_local_index(tmp_path) is False
