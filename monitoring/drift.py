"""Per-feature drift: a distance (PSI) and a test suited to the kind of feature.

Numbers: the population stability index over the training deciles and the
two-sample Kolmogorov-Smirnov test. Labels: PSI over the labels and the
chi-square test of the two label counts. A feature drifts when both the
distance and the test say so: the test alone flags tiny shifts in large
samples, the distance alone flags noise in small ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from monitoring.snapshot import fold_label, to_number

EPSILON = 1e-4
DECILES = np.linspace(0, 1, 11)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison, live against training."""

    feature: str
    kind: str
    live_rows: int
    psi: float | None
    p_value: float | None
    train_missing: float
    live_missing: float
    unseen_rate: float | None
    unseen_labels: tuple[str, ...]


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two proportion vectors (empty bins get EPSILON)."""
    expected = np.clip(expected, EPSILON, None)
    actual = np.clip(actual, EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numbers_psi(train: np.ndarray, live: np.ndarray) -> float:
    """PSI over the training deciles (open-ended outer bins)."""
    inner = np.unique(np.quantile(train, DECILES))[1:-1]
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    expected = np.histogram(train, edges)[0] / len(train)
    actual = np.histogram(live, edges)[0] / len(live)
    return psi(expected, actual)


def compare_numbers(
    name: str, train_values: Sequence[object], live_values: Sequence[object]
) -> FeatureDrift:
    train = np.array([to_number(value) for value in train_values])
    live = np.array([to_number(value) for value in live_values])
    train_present, live_present = train[~np.isnan(train)], live[~np.isnan(live)]
    distance = p_value = None
    if len(live_present) and len(train_present):
        distance = numbers_psi(train_present, live_present)
        p_value = float(stats.ks_2samp(train_present, live_present).pvalue)
    return FeatureDrift(
        feature=name,
        kind="number",
        live_rows=len(live_present),
        psi=distance,
        p_value=p_value,
        train_missing=_share(np.isnan(train)),
        live_missing=_share(np.isnan(live)),
        unseen_rate=None,
        unseen_labels=(),
    )


def compare_labels(
    name: str, train_values: Sequence[object], live_values: Sequence[object]
) -> FeatureDrift:
    train = [fold_label(value) for value in train_values]
    live = [fold_label(value) for value in live_values]
    train_counts = Counter(label for label in train if label is not None)
    live_counts = Counter(label for label in live if label is not None)
    live_present = sum(live_counts.values())
    distance = p_value = unseen_rate = None
    unseen = sorted(set(live_counts) - set(train_counts))
    if live_present:
        labels = sorted(set(train_counts) | set(live_counts))
        expected = np.array([train_counts[label] for label in labels], dtype=float)
        actual = np.array([live_counts[label] for label in labels], dtype=float)
        distance = psi(expected / expected.sum(), actual / actual.sum())
        table = np.vstack([expected, actual])
        p_value = (
            float(stats.chi2_contingency(table[:, table.sum(axis=0) > 0])[1])
            if len(labels) > 1
            else 1.0
        )
        unseen_rate = sum(live_counts[label] for label in unseen) / live_present
    return FeatureDrift(
        feature=name,
        kind="label",
        live_rows=live_present,
        psi=distance,
        p_value=p_value,
        train_missing=_share(np.array([label is None for label in train])),
        live_missing=_share(np.array([label is None for label in live])),
        unseen_rate=unseen_rate,
        unseen_labels=tuple(unseen),
    )


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def rmsle(predicted: Sequence[float], actual: Sequence[float]) -> float:
    """Root mean squared log error, the model's own metric."""
    errors = np.log1p(np.asarray(predicted)) - np.log1p(np.asarray(actual))
    return float(np.sqrt(np.mean(errors**2)))
