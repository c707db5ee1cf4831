"""The training side of the comparison: the snapshot and facts about the packaged model.

Read from the model package's files (``regression_model/datasets/train.csv``
and the packaged metadata JSON), with the row schema from its public
``HouseFeatures``; nothing here loads the model itself.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from regression_model import HouseFeatures

MISSING_TEXT = frozenset({"", "na"})
TARGET = "SalePrice"


@dataclass(frozen=True)
class Features:
    """The schema's features by the names rows use: numbers and labels."""

    numbers: tuple[str, ...]
    labels: tuple[str, ...]


def schema_features() -> Features:
    """Split ``HouseFeatures``' fields into label fields (a ``Literal``) and numbers."""
    numbers: list[str] = []
    labels: list[str] = []
    for name, info in HouseFeatures.model_fields.items():
        row_name = info.serialization_alias or name
        options = get_args(info.annotation) or (info.annotation,)
        is_label = any(get_origin(option) is Literal for option in options)
        (labels if is_label else numbers).append(row_name)
    return Features(tuple(numbers), tuple(labels))


def fold_label(value: Any) -> str | None:
    """A label as the schema compares it (blanks, case ignored; 20.0 is 20), or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().casefold()
    return None if text in MISSING_TEXT else text


def to_number(value: Any) -> float:
    """A number, or NaN for a missing or non-numeric value."""
    if value is None or isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def training_rows() -> list[dict[str, str]]:
    """The packaged training snapshot's rows, as text (CSV's own missing: '' and 'NA')."""
    snapshot = resources.files("regression_model") / "datasets" / "train.csv"
    return list(csv.DictReader(snapshot.read_text(encoding="utf-8").splitlines()))


@dataclass(frozen=True)
class ModelAge:
    """How old the packaged model is, and what the age is measured from."""

    version: str
    days: float
    since: datetime
    basis: str


def packaged_metadata() -> dict[str, Any]:
    """The packaged model's metadata JSON (the one its ``VERSION`` names)."""
    package = resources.files("regression_model")
    version = (package / "VERSION").read_text(encoding="utf-8").strip()
    for entry in (package / "trained_models").iterdir():
        if entry.name.endswith(f"_v{version}.json"):
            metadata: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
            return metadata
    raise FileNotFoundError(f"no packaged metadata for model version {version}")


def commit_date(commit: str, repo: Path) -> datetime | None:
    """The commit's date if ``repo``'s git knows it (a checkout, not a deployed wheel)."""
    try:
        shown = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "show",
                "-s",
                "--format=%cI",
                commit.partition("+")[0],
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return datetime.fromisoformat(shown.stdout.strip())


def model_age(rows: list[dict[str, str]], now: datetime, repo: Path) -> ModelAge:
    """Days since the model's source commit, else since its newest training sale.

    The metadata records the commit's time (``source_commit_time``); a model
    trained before it did is dated by git from the recorded commit, and
    outside a checkout the month after the newest sale is the best bound.
    """
    return age_of(packaged_metadata(), rows, now, repo)


def age_of(
    metadata: dict[str, Any], rows: list[dict[str, str]], now: datetime, repo: Path
) -> ModelAge:
    """``model_age`` of the model ``metadata`` describes."""
    version = str(metadata["version"])
    trained_with = metadata["trained_with"]
    recorded = trained_with.get("source_commit_time")
    if recorded is not None:
        since = datetime.fromisoformat(recorded)
        return ModelAge(
            version, (now - since).total_seconds() / 86400, since, "source commit time"
        )
    trained = commit_date(trained_with["source_commit"], repo)
    if trained is not None:
        return ModelAge(
            version,
            (now - trained).total_seconds() / 86400,
            trained,
            "source commit date",
        )
    year, month = max((int(row["YrSold"]), int(row["MoSold"])) for row in rows)
    since = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return ModelAge(
        version, (now - since).total_seconds() / 86400, since, "newest training sale"
    )
