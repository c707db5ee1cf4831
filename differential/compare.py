"""Compare the current model with the last released version on fixed inputs.

A model that gets worse raises no exception and returns no 500; this check is
what catches it. The released version's predictions come from a file captured
from its wheel (``differential/captured/v<VERSION>.json``); the current ones
are computed here from the current artifact. The verdict:

- same ``VERSION`` as the released one: predictions must not change at all
  (a model change needs a version bump; a bump without a change is fine);
- a higher MINOR or PATCH: at most ``differential_max_moved_fraction`` of the
  rows may move by more than ``differential_rel_tolerance``;
- a higher MAJOR (an intended new model): any number of rows may move;
- any higher ``VERSION``: the held-out RMSLE may be at most
  ``differential_max_rmsle_increase`` worse, and no held-out slice
  (``SLICE_COLUMNS``, at least ``MIN_SLICE_ROWS`` rows) may get worse by more
  than ``differential_max_slice_rmsle_increase``;
- a lower ``VERSION`` than the released one is always an error.

Run ``python -m differential.compare`` (``tox -e differential``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from differential.capture import TEST_PREFIX, capture, fixed_inputs
from regression_model.config.core import (
    DATASET_DIR,
    TRAINED_MODEL_DIR,
    ReleaseConfig,
    load_config,
    package_version,
)
from regression_model.model import load_model_from
from regression_model.predict import make_prediction
from regression_model.processing.artifacts import ArtifactPaths

DIFFERENTIAL_DIR = Path(__file__).resolve().parent
CAPTURED_DIR = DIFFERENTIAL_DIR / "captured"
EDGE_CASES = DIFFERENTIAL_DIR / "edge_cases.json"
SAME_VERSION_TOLERANCE = 1e-9
REPORTED_MOVES = 10
SLICE_COLUMNS = ("Neighborhood", "SaleCondition", "MSZoning", "OverallQual")
MIN_SLICE_ROWS = 20


def semver(version: str) -> tuple[int, int, int]:
    """Parse ``MAJOR.MINOR.PATCH``; anything else is an error naming the value."""
    parts = version.strip().split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch


def released_versions(captured_dir: Path = CAPTURED_DIR) -> dict[str, Path]:
    """Captured release files by version."""
    return {
        path.stem.removeprefix("v"): path for path in sorted(captured_dir.glob("v*.json"))
    }


def previous_release(current: str, captured_dir: Path = CAPTURED_DIR) -> Path:
    """The captured release the current version is judged against.

    That is the current version itself if it was released (no bump yet),
    otherwise the highest released version below it.
    """
    releases = released_versions(captured_dir)
    if not releases:
        raise FileNotFoundError(f"no captured release in {captured_dir}")
    newest = max(releases, key=semver)
    if semver(current) < semver(newest):
        raise ValueError(
            f"VERSION {current} is lower than the released {newest}: versions only go up"
        )
    candidates = [v for v in releases if semver(v) <= semver(current)]
    return releases[max(candidates, key=semver)]


@dataclass
class Move:
    """One row whose outcome differs between the two versions."""

    key: str
    previous: float | None
    current: float | None

    @property
    def relative(self) -> float:
        if self.previous is None or self.current is None:
            return float("inf") if self.previous != self.current else 0.0
        return abs(self.current - self.previous) / abs(self.previous)


@dataclass
class Report:
    """The comparison and its verdict."""

    previous_version: str
    current_version: str
    rows_compared: int
    tolerance: float
    moves: list[Move] = field(default_factory=list)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    slices: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def render(self) -> str:
        """A short human-readable report."""
        lines = [
            f"differential: v{self.current_version} (current) vs "
            f"v{self.previous_version} (released), {self.rows_compared} rows",
            f"rows moved beyond {self.tolerance:g} relative: {len(self.moves)}",
        ]
        for move in sorted(self.moves, key=lambda m: -m.relative)[:REPORTED_MOVES]:
            lines.append(
                f"  {move.key}: {move.previous} -> {move.current} ({move.relative:.2%})"
            )
        for name, (before, after) in self.metrics.items():
            lines.append(
                f"held-out {name.upper():6s} released {before:12.4f}  "
                f"current {after:12.4f}  delta {after - before:+.4f}"
            )
        if self.slices:
            lines.append(
                "held-out RMSLE per slice, worst change first "
                "(rows, released -> current):"
            )
        for name, (rows, before, after) in sorted(
            self.slices.items(), key=lambda item: item[1][1] - item[1][2]
        ):
            lines.append(
                f"  {name:28s} {rows:4d}  {before:.4f} -> {after:.4f} "
                f"({after - before:+.4f})"
            )
        lines.extend(f"FAIL: {failure}" for failure in self.failures)
        lines.append("verdict: " + ("PASS" if self.passed else "FAIL"))
        return "\n".join(lines)


def slice_rmsle(
    predictions: dict[str, float | None],
    prices: dict[str, float],
    labels: dict[str, dict[str, str]],
) -> dict[str, tuple[int, float]]:
    """Held-out RMSLE per slice ("column=label") with enough priced rows."""
    errors: dict[str, list[float]] = {}
    for key, price in prices.items():
        predicted = predictions.get(key)
        if predicted is None or key not in labels:
            continue
        error = (math.log(predicted) - math.log(price)) ** 2
        for column, label in labels[key].items():
            errors.setdefault(f"{column}={label}", []).append(error)
    return {
        name: (len(values), math.sqrt(sum(values) / len(values)))
        for name, values in errors.items()
        if len(values) >= MIN_SLICE_ROWS
    }


def compare(
    previous: dict[str, Any],
    current: dict[str, Any],
    release: ReleaseConfig,
    *,
    prices: dict[str, float] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> Report:
    """Judge ``current`` against the released ``previous`` capture.

    With the held-out ``prices`` and each row's slice ``labels``, slices are
    compared too.
    """
    same_version = previous["version"] == current["version"]
    tolerance = (
        SAME_VERSION_TOLERANCE if same_version else release.differential_rel_tolerance
    )
    shared = [key for key in previous["predictions"] if key in current["predictions"]]
    report = Report(
        previous_version=previous["version"],
        current_version=current["version"],
        rows_compared=len(shared),
        tolerance=tolerance,
        metrics={
            name: (previous["metrics"][name], current["metrics"][name])
            for name in ("rmse", "rmsle", "mae", "r2")
        },
    )
    for key in shared:
        move = Move(key, previous["predictions"][key], current["predictions"][key])
        if move.relative > tolerance:
            report.moves.append(move)
    if prices and labels:
        before = slice_rmsle(previous["predictions"], prices, labels)
        after = slice_rmsle(current["predictions"], prices, labels)
        report.slices = {
            name: (after[name][0], before[name][1], after[name][1])
            for name in sorted(set(before) & set(after))
        }
    if same_version:
        if report.moves:
            report.failures.append(
                f"predictions changed on {len(report.moves)} rows but VERSION is still "
                f"{current['version']}: a model change needs a VERSION bump"
            )
        return report
    if semver(current["version"]) < semver(previous["version"]):
        report.failures.append(
            f"VERSION {current['version']} is lower than released {previous['version']}"
        )
    allowed = release.differential_max_moved_fraction * len(shared)
    major_bump = semver(current["version"])[0] > semver(previous["version"])[0]
    if len(report.moves) > allowed and not major_bump:
        report.failures.append(
            f"{len(report.moves)} of {len(shared)} rows moved by more than "
            f"{tolerance:.1%}; at most {allowed:.0f} may"
        )
    rmsle_before, rmsle_after = report.metrics["rmsle"]
    if rmsle_after - rmsle_before > release.differential_max_rmsle_increase:
        report.failures.append(
            f"held-out RMSLE worsened by {rmsle_after - rmsle_before:.4f} "
            f"(allowed {release.differential_max_rmsle_increase})"
        )
    for name, (_, slice_before, slice_after) in report.slices.items():
        worsened = slice_after - slice_before
        if worsened > release.differential_max_slice_rmsle_increase:
            report.failures.append(
                f"held-out slice {name} RMSLE worsened by {worsened:.4f} "
                f"(allowed {release.differential_max_slice_rmsle_increase})"
            )
    return report


def held_out_slices(test_csv: Path) -> dict[str, dict[str, str]]:
    """Each held-out row key's label in every slice column (``OverallQual`` as text)."""
    keys, rows, _ = fixed_inputs(test_csv, EDGE_CASES, load_config().model.target)
    return {
        key: {column: str(row[column]) for column in SLICE_COLUMNS}
        for key, row in zip(keys, rows, strict=True)
        if key.startswith(TEST_PREFIX)
    }


def capture_current(artifact_dir: Path, version: str) -> dict[str, Any]:
    """Predict the fixed inputs with the current artifact in ``artifact_dir``.

    Scored by the reference pipeline, as every release is captured.
    """
    config = load_config()
    paths = ArtifactPaths.for_version(
        config.app.pipeline_save_file, version, artifact_dir
    )
    model = load_model_from(paths, "pipeline")
    keys, rows, prices = fixed_inputs(
        DATASET_DIR / config.app.test_data_file, EDGE_CASES, config.model.target
    )

    def predict(*, input_data: list[dict[str, Any]]) -> Any:
        return make_prediction(input_data=input_data, model=model)

    return capture(keys, rows, prices, predict)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when the current model may not be released."""
    parser = argparse.ArgumentParser(description="Compare current vs released model.")
    parser.add_argument("--artifact-dir", type=Path, default=TRAINED_MODEL_DIR)
    parser.add_argument("--version", default=None, help="default: VERSION")
    parser.add_argument("--captured-dir", type=Path, default=CAPTURED_DIR)
    args = parser.parse_args(argv)
    version = args.version or package_version()
    try:
        previous = json.loads(previous_release(version, args.captured_dir).read_text())
    except (FileNotFoundError, ValueError) as error:
        print(f"differential: FAIL: {error}", file=sys.stderr)
        return 1
    current = capture_current(args.artifact_dir, version)
    config = load_config()
    test_csv = DATASET_DIR / config.app.test_data_file
    _, _, prices = fixed_inputs(test_csv, EDGE_CASES, config.model.target)
    report = compare(
        previous,
        current,
        config.release,
        prices=prices,
        labels=held_out_slices(test_csv),
    )
    print(report.render())
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
