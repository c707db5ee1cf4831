"""The differential check must pass an unchanged retrain and fail a changed model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from differential.compare import (
    CAPTURED_DIR,
    Move,
    compare,
    main,
    previous_release,
    released_versions,
    semver,
)
from regression_model.config.core import CONFIG_FILE_PATH, load_config, parse_config
from regression_model.train_pipeline import run_training

# The latest release: the version the checkout's model was last captured at.
RELEASED = max(released_versions(), key=semver)
NEXT_MINOR = f"{semver(RELEASED)[0]}.{semver(RELEASED)[1] + 1}.0"
NEXT_PATCH = f"{semver(RELEASED)[0]}.{semver(RELEASED)[1]}.{semver(RELEASED)[2] + 1}"


def _config_with(*replacements: tuple[str, str]):
    text = CONFIG_FILE_PATH.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return parse_config(text)


def test_semver_parses_and_rejects() -> None:
    assert semver("1.10.2") == (1, 10, 2)
    with pytest.raises(ValueError, match=r"not MAJOR\.MINOR\.PATCH"):
        semver("1.2")


def test_the_released_version_is_captured_from_its_wheel() -> None:
    # Given the committed capture of the released version
    captured = json.loads(released_versions()[RELEASED].read_text())
    # Then it names the installed distribution it came from, not the checkout
    origin = captured["captured_from"]
    assert origin["installed_version"] == RELEASED == captured["version"]
    assert "site-packages" in origin["module"]
    assert captured["held_out_rows_scored"] > 500


def test_previous_release_picks_highest_not_above_current(tmp_path: Path) -> None:
    for version in ("0.1.0", "0.2.0", "0.10.0"):
        (tmp_path / f"v{version}.json").write_text("{}")
    # Then versions compare as numbers, not text (0.10.0 > 0.2.0)
    assert previous_release("0.10.0", tmp_path).name == "v0.10.0.json"
    assert previous_release("0.11.0", tmp_path).name == "v0.10.0.json"
    assert previous_release("1.0.0", tmp_path).name == "v0.10.0.json"
    # And a version below the newest release is refused
    with pytest.raises(ValueError, match="versions only go up"):
        previous_release("0.9.1", tmp_path)


def test_move_treats_error_versus_price_as_a_move() -> None:
    assert Move("k", None, 1.0).relative == float("inf")
    assert Move("k", None, None).relative == 0.0
    assert Move("k", 100.0, 103.0).relative == pytest.approx(0.03)


@pytest.mark.process
def test_unchanged_retrain_passes_with_zero_rows_moved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a retrain from the same commit into a temporary folder
    run_training(output_dir=tmp_path, version=RELEASED)
    # When it is compared with the released capture
    code = main(["--artifact-dir", str(tmp_path), "--version", RELEASED])
    # Then nothing moved and the check passes
    out = capsys.readouterr().out
    assert code == 0, out
    assert "rows moved beyond 1e-09 relative: 0" in out
    assert "verdict: PASS" in out


@pytest.mark.process
def test_changed_model_without_version_bump_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model with a different alpha, still under the released VERSION
    config = _config_with(("alpha: 0.001", "alpha: 0.002"))
    run_training(config, output_dir=tmp_path, version=RELEASED)
    # When compared
    code = main(["--artifact-dir", str(tmp_path), "--version", RELEASED])
    # Then the check fails and says a VERSION bump is needed
    out = capsys.readouterr().out
    assert code == 1
    assert "needs a VERSION bump" in out


@pytest.mark.process
def test_worse_model_fails_even_with_a_version_bump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a heavily regularised model released as a new minor version, with
    # the absolute quality gate loosened so that only the differential can stop it
    config = _config_with(
        ("alpha: 0.001", "alpha: 0.01"), ("max_test_rmsle: 0.17", "max_test_rmsle: 0.5")
    )
    run_training(config, output_dir=tmp_path, version=NEXT_MINOR)
    # When compared with the latest release
    code = main(["--artifact-dir", str(tmp_path), "--version", NEXT_MINOR])
    # Then it fails on moved rows and worse held-out RMSLE, naming the rows
    out = capsys.readouterr().out
    assert code == 1
    assert f"v{NEXT_MINOR} (current) vs v{RELEASED} (released)" in out
    assert "RMSLE worsened" in out
    assert "rows moved by more than" in out
    assert "test-" in out


def test_version_bump_with_identical_predictions_is_allowed() -> None:
    # Given the released capture relabelled as a newer version with no change
    captured = json.loads((CAPTURED_DIR / f"v{RELEASED}.json").read_text())
    bumped = {**captured, "version": NEXT_PATCH}
    # When compared
    report = compare(captured, bumped, load_config().release)
    # Then it passes with nothing moved
    assert report.passed, report.render()
    assert report.moves == []
