"""The differential check must pass an unchanged retrain and fail a changed model."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from differential.capture import fixed_inputs, price_metrics
from differential.compare import (
    CAPTURED_DIR,
    EDGE_CASES,
    Move,
    compare,
    held_out_slices,
    main,
    previous_release,
    released_versions,
    semver,
)
from regression_model.config.core import (
    CONFIG_FILE_PATH,
    DATASET_DIR,
    load_config,
    package_version,
    parse_config,
)
from regression_model.train_pipeline import run_training

# The latest release: the version the checkout's model was last captured at.
RELEASED = max(released_versions(), key=semver)
NEXT_MINOR = f"{semver(RELEASED)[0]}.{semver(RELEASED)[1] + 1}.0"
NEXT_PATCH = f"{semver(RELEASED)[0]}.{semver(RELEASED)[1]}.{semver(RELEASED)[2] + 1}"
NEXT_MAJOR = f"{semver(RELEASED)[0] + 1}.0.0"


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
    # Given the checkout's VERSION was released (captured) and is retrained
    if package_version() not in released_versions():
        pytest.skip(f"v{package_version()} is not captured yet (released after merge)")
    run_training(output_dir=tmp_path)
    # When it is compared with its own capture
    code = main(["--artifact-dir", str(tmp_path)])
    # Then nothing moved and the check passes
    out = capsys.readouterr().out
    assert code == 0, out
    assert "rows moved beyond 1e-09 relative: 0" in out
    assert "verdict: PASS" in out


@pytest.mark.process
def test_changed_model_without_version_bump_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model with another encoding smoothing, under the released VERSION
    config = _config_with(
        ("mean_encoding_smoothing: 10.0", "mean_encoding_smoothing: 30.0")
    )
    run_training(config, output_dir=tmp_path, version=RELEASED)
    # When compared
    code = main(["--artifact-dir", str(tmp_path), "--version", RELEASED])
    # Then the check fails and says a VERSION bump is needed
    out = capsys.readouterr().out
    assert code == 1
    assert "needs a VERSION bump" in out


@pytest.fixture(scope="module")
def released_capture() -> dict[str, Any]:
    return json.loads(released_versions()[RELEASED].read_text())


@pytest.fixture(scope="module")
def held_out() -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    """The held-out prices and each held-out row's slice labels."""
    config = load_config()
    test_csv = DATASET_DIR / config.app.test_data_file
    _, _, prices = fixed_inputs(test_csv, EDGE_CASES, config.model.target)
    return prices, held_out_slices(test_csv)


def _moved_towards_prices(
    capture: dict[str, Any],
    prices: dict[str, float],
    version: str,
    share: float,
    keep: Callable[[str], bool] = lambda key: False,
) -> dict[str, Any]:
    """``capture`` relabelled ``version``, each priced row's log-price moved
    ``share`` of the way to the true price (negative: away from it)."""
    predictions = dict(capture["predictions"])
    for key, price in prices.items():
        before = predictions[key]
        if before is not None and not keep(key):
            log_before = math.log(before)
            predictions[key] = math.exp(
                log_before + share * (math.log(price) - log_before)
            )
    scored = [key for key in prices if predictions[key] is not None]
    metrics = price_metrics([prices[k] for k in scored], [predictions[k] for k in scored])
    return {**capture, "version": version, "predictions": predictions, "metrics": metrics}


def test_an_intended_better_model_ships_on_a_major_bump_though_most_rows_moved(
    released_capture: dict[str, Any], held_out: tuple[dict[str, float], Any]
) -> None:
    # Given a model whose every held-out price is 30% closer (in log) to the truth
    prices, labels = held_out
    better = _moved_towards_prices(released_capture, prices, NEXT_MAJOR, 0.3)
    # When released as the next major version
    report = compare(
        released_capture, better, load_config().release, prices=prices, labels=labels
    )
    # Then it passes, and the report shows the largest moves and every slice
    assert report.passed, report.render()
    allowed_on_minor = load_config().release.differential_max_moved_fraction
    assert len(report.moves) > allowed_on_minor * report.rows_compared
    rendered = report.render()
    assert "test-" in rendered
    assert "Neighborhood=Edwards" in rendered
    assert all(after < before for _, before, after in report.slices.values())


def test_the_same_better_model_fails_on_a_minor_bump(
    released_capture: dict[str, Any], held_out: tuple[dict[str, float], Any]
) -> None:
    prices, labels = held_out
    better = _moved_towards_prices(released_capture, prices, NEXT_MINOR, 0.3)
    report = compare(
        released_capture, better, load_config().release, prices=prices, labels=labels
    )
    assert not report.passed
    assert any("rows moved by more than" in failure for failure in report.failures)


def test_a_worse_model_fails_even_on_a_major_bump(
    released_capture: dict[str, Any], held_out: tuple[dict[str, float], Any]
) -> None:
    # Given a model whose held-out prices are 30% further (in log) from the truth
    prices, labels = held_out
    worse = _moved_towards_prices(released_capture, prices, NEXT_MAJOR, -0.3)
    # When released as the next major version, Then RMSLE and slices stop it
    report = compare(
        released_capture, worse, load_config().release, prices=prices, labels=labels
    )
    assert not report.passed
    assert any("RMSLE worsened" in failure for failure in report.failures)
    assert any("held-out slice" in failure for failure in report.failures)


def test_a_better_model_that_worsens_one_slice_fails_on_a_major_bump(
    released_capture: dict[str, Any], held_out: tuple[dict[str, float], Any]
) -> None:
    # Given a model better everywhere except Edwards, which gets much worse
    prices, labels = held_out
    edwards = {key for key, row in labels.items() if row["Neighborhood"] == "Edwards"}
    better = _moved_towards_prices(released_capture, prices, NEXT_MAJOR, 0.3)
    worse = _moved_towards_prices(released_capture, prices, NEXT_MAJOR, -0.5)
    mixed = {
        **better,
        "predictions": {
            key: worse["predictions"][key] if key in edwards else value
            for key, value in better["predictions"].items()
        },
    }
    # When compared, Then the slice is named as the reason
    report = compare(
        released_capture, mixed, load_config().release, prices=prices, labels=labels
    )
    assert any("slice Neighborhood=Edwards" in f for f in report.failures)
    assert not any(f.startswith("held-out RMSLE worsened") for f in report.failures)


def test_version_bump_with_identical_predictions_is_allowed() -> None:
    # Given the released capture relabelled as a newer version with no change
    captured = json.loads((CAPTURED_DIR / f"v{RELEASED}.json").read_text())
    bumped = {**captured, "version": NEXT_PATCH}
    # When compared
    report = compare(captured, bumped, load_config().release)
    # Then it passes with nothing moved
    assert report.passed, report.render()
    assert report.moves == []
