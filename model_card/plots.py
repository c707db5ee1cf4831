"""The card's PNG plots (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import numpy as np
from matplotlib import pyplot as plt

from model_card.evidence import Evidence

FIGURE_SIZE = (7.0, 4.0)


def _save(figure: Any, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path.name


def residuals_plot(evidence: Evidence, path: Path) -> str:
    """Held-out log residuals against predicted price, with the interval half-width."""
    held = evidence.held_out
    price = np.exp(held.predicted_log_price)
    figure, axes = plt.subplots(figsize=FIGURE_SIZE)
    axes.scatter(price, held.log_price - held.predicted_log_price, s=6, alpha=0.5)
    order = np.argsort(price)
    half = (held.high - held.predicted_log_price)[order]
    axes.plot(price[order], half, color="tab:red", label="interval half-width")
    axes.plot(price[order], -half, color="tab:red")
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("predicted price ($, log scale)")
    axes.set_ylabel("log(actual) - log(predicted)")
    axes.set_title("Held-out residuals against predicted price")
    axes.legend()
    return _save(figure, path)


def coverage_plot(evidence: Evidence, path: Path) -> str:
    """Held-out interval coverage per slice, against the nominal coverage."""
    assert evidence.metadata.model_tests is not None
    intervals = evidence.metadata.model_tests.figures["intervals"]
    labels, values = [], []
    for column, slices in intervals["slices"].items():
        for label, figure in slices.items():
            labels.append(f"{column}={label}")
            values.append(figure["coverage"])
    figure, axes = plt.subplots(figsize=(7.0, 0.25 * len(labels) + 1.5))
    axes.barh(labels, values)
    axes.axvline(intervals["nominal"], color="tab:red", label="nominal")
    axes.axvline(intervals["coverage"], color="black", linestyle="--", label="overall")
    axes.set_xlim(0.5, 1.0)
    axes.set_xlabel("held-out coverage")
    axes.legend(loc="lower left")
    return _save(figure, path)


def effects_plot(evidence: Evidence, path: Path) -> str:
    """Global feature effects, largest first."""
    names = list(evidence.effects.importance)[::-1]
    figure, axes = plt.subplots(figsize=(7.0, 0.22 * len(names) + 1.5))
    axes.barh(names, [evidence.effects.importance[name] for name in names])
    axes.set_xlabel("importance")
    return _save(figure, path)


def shape_plot(name: str, grid: list[float], means: list[float], path: Path) -> str:
    """Partial dependence of the mean predicted price on one feature."""
    figure, axes = plt.subplots(figsize=(4.5, 3.2))
    axes.plot(grid, means, marker="o")
    axes.set_xlabel(name)
    axes.set_ylabel("mean predicted price ($)")
    return _save(figure, path)
