"""What the served model learned from, as monitoring needs it: labels seen, last sale.

Read once per worker from the training snapshot the model package ships
(``regression_model/datasets/train.csv``, package data of the wheel). A
label the schema allows but training never saw is priced through the
encoders' fallback, so it is counted (``house_prices_unseen_labels_total``);
the newest sale in the snapshot dates the model's knowledge when its
metadata records no source commit time (``app.metrics.model_age_start``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal, get_args, get_origin

from regression_model import HouseFeatures

MISSING = frozenset({"", "na"})


@dataclass(frozen=True)
class TrainingSnapshot:
    """Per label field, the folded labels training saw; the end of its newest month."""

    seen_labels: Mapping[str, frozenset[str]]
    data_end: datetime


def fold(value: Any) -> str:
    """A label as the schema compares it: text, blanks and case ignored; 20.0 is 20."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def label_fields() -> list[str]:
    """The schema's label fields (a ``Literal`` type), by the name rows use."""
    names = []
    for name, info in HouseFeatures.model_fields.items():
        options = get_args(info.annotation) or (info.annotation,)
        if any(get_origin(option) is Literal for option in options):
            names.append(info.serialization_alias or name)
    return names


def load_training_snapshot() -> TrainingSnapshot:
    """Read the packaged ``train.csv``: its label fields' values and its last sale."""
    fields = label_fields()
    seen: dict[str, set[str]] = {name: set() for name in fields}
    newest = (0, 0)
    snapshot = resources.files("regression_model") / "datasets" / "train.csv"
    # A row at a time: the file's text is never held whole in the worker.
    with snapshot.open(encoding="utf-8") as rows:
        for record in csv.DictReader(rows):
            for name in fields:
                folded = fold(record[name])
                if folded not in MISSING:
                    seen[name].add(folded)
            newest = max(newest, (int(record["YrSold"]), int(record["MoSold"])))
    year, month = newest
    data_end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return TrainingSnapshot(
        seen_labels={name: frozenset(labels) for name, labels in seen.items()},
        data_end=data_end,
    )
