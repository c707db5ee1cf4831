"""The card's HTML page: sections of tables and plots, escaped, no template engine."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from model_card import plots
from model_card.evidence import Evidence

SECTIONS = (
    ("data", "Data and provenance"),
    ("metrics", "Cross-validation and held-out metrics"),
    ("slices", "Slices and bias"),
    ("residuals", "Residuals against predicted price"),
    ("intervals", "Prediction intervals"),
    ("effects", "Global feature effects"),
    ("shapes", "Shape of the main features"),
    ("staleness", "Staleness"),
    ("changes", "What changed since the last release"),
)
PAGE = "index.html"
STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table of escaped cells."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def image(name: str, alt: str) -> str:
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">'


def _data(evidence: Evidence) -> str:
    source, split = evidence.provenance["source"], evidence.provenance["split"]
    files = [
        (name, record.rows, record.sha256)
        for name, record in evidence.metadata.data.items()
    ]
    return (
        f"<p>Source: <code>{html.escape(source['package'])}=="
        f"{html.escape(source['version'])}</code> dataset "
        f"<code>{html.escape(source['dataset'])}</code> ({source['rows']} sales, "
        "Kaggle's column names). Split: seed "
        f"{split['random_state']}, test fraction {split['test_size']}. Trained from "
        f"commit <code>{html.escape(evidence.metadata.trained_with.source_commit)}"
        "</code>.</p>" + table(["file", "rows", "SHA-256"], files)
    )


def _metrics(evidence: Evidence) -> str:
    figures = _figures(evidence)
    cv, test = figures["cv"], evidence.metadata.metrics.test
    return table(
        ["figure", "value"],
        [
            (f"{cv['splits']}-fold CV RMSLE (train.csv)", cv["model"]["mean"]),
            ("CV RMSLE fold std", cv["model"]["std"]),
            ("CV RMSLE, 3-feature baseline", cv["baseline_3_features"]["mean"]),
            ("CV RMSLE, median predictor", cv["median"]["mean"]),
            ("held-out RMSLE (test.csv)", test.rmsle),
            ("held-out RMSE ($)", test.rmse),
            ("held-out MAE ($)", test.mae),
            ("held-out R²", test.r2),
        ],
    )


def _slices(evidence: Evidence) -> str:
    parts = ["<p>Out-of-fold errors on train.csv, slices of at least 20 rows.</p>"]
    for column, slices in _figures(evidence)["slices"].items():
        rows = [(label, s["rows"], s["rmsle"], s["bias"]) for label, s in slices.items()]
        parts.append(f"<h3>{html.escape(column)}</h3>")
        parts.append(table([column, "rows", "RMSLE", "mean signed log error"], rows))
    return "".join(parts)


def _intervals(evidence: Evidence, plot: str) -> str:
    calibration = evidence.metadata.intervals
    if calibration is None:
        return "<p>This model carries no interval calibration.</p>"
    figures = _figures(evidence)["intervals"]
    parts = [
        f"<p>{html.escape(calibration.method)}; nominal coverage "
        f"{calibration.coverage:.0%}, conformal quantile {calibration.quantile:.3f} "
        f"on {calibration.calibration_rows} rows. Held-out coverage "
        f"{figures['coverage']:.3f}, mean width ${figures['mean_width']:,.0f} "
        f"({figures['mean_relative_width']:.1%} of the predicted price).</p>",
        table(
            ["predicted price band median ($)", "scale (mean |log residual|)"],
            [
                (math.exp(knot), scale)
                for knot, scale in zip(
                    calibration.knots_log_price, calibration.scales, strict=True
                )
            ],
        ),
    ]
    for column, slices in figures["slices"].items():
        rows = [
            (label, s["rows"], s["coverage"], s["mean_relative_width"])
            for label, s in slices.items()
        ]
        parts.append(f"<h3>{html.escape(column)}</h3>")
        parts.append(table([column, "rows", "coverage", "mean relative width"], rows))
    parts.append(image(plot, "interval coverage per slice"))
    return "".join(parts)


def _effects(evidence: Evidence, plot: str) -> str:
    return (
        f"<p>{html.escape(evidence.effects.source)}.</p>"
        + image(plot, "global feature effects")
        + table(["input", "importance"], evidence.effects.importance.items())
    )


def _staleness(evidence: Evidence) -> str:
    figure = _figures(evidence)["staleness"]
    assert evidence.metadata.model_tests is not None
    limit = evidence.metadata.model_tests.thresholds.max_staleness_rmsle
    verdict = "pass" if figure["rmsle"] <= limit else "FAIL"
    return (
        f"<p>Fitted on the {figure['fit_rows']} sales of train.csv up to 2008, scored on "
        f"its {figure['scored_rows']} sales of 2009-2010: RMSLE {figure['rmsle']:.4f} "
        f"(limit {limit}): {verdict}.</p>"
    )


def _changes(evidence: Evidence) -> str:
    report = evidence.differential
    return (
        f"<p>v{html.escape(report.current_version)} against the captured release "
        f"v{html.escape(report.previous_version)} on {report.rows_compared} fixed rows "
        f"(differential check, verdict {'PASS' if report.passed else 'FAIL'}).</p>"
        f"<pre>{html.escape(report.render())}</pre>"
    )


def _figures(evidence: Evidence) -> dict[str, Any]:
    tests = evidence.metadata.model_tests
    assert tests is not None, "the card needs a model trained with its model tests"
    return tests.figures


def write_card(evidence: Evidence, output: Path) -> Path:
    """Write ``index.html`` and its PNGs into ``output``; return the page's path."""
    output.mkdir(parents=True, exist_ok=True)
    shape_images = [
        plots.shape_plot(name, grid, means, output / f"shape_{name}.png")
        for name, (grid, means) in evidence.shapes.items()
    ]
    body = {
        "data": _data(evidence),
        "metrics": _metrics(evidence),
        "slices": _slices(evidence),
        "residuals": image(
            plots.residuals_plot(evidence, output / "residuals.png"),
            "held-out residuals against predicted price",
        ),
        "intervals": _intervals(
            evidence, plots.coverage_plot(evidence, output / "interval_coverage.png")
        ),
        "effects": _effects(
            evidence, plots.effects_plot(evidence, output / "feature_effects.png")
        ),
        "shapes": "<p>Partial dependence: mean predicted price over 400 training rows "
        "with the feature set to each value.</p>"
        + "".join(image(name, name) for name in shape_images),
        "staleness": _staleness(evidence),
        "changes": _changes(evidence),
    }
    sections = "".join(
        f'<section id="{key}"><h2>{html.escape(title)}</h2>{body[key]}</section>'
        for key, title in SECTIONS
    )
    page = output / PAGE
    page.write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Model card v{html.escape(evidence.version)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Model card: ames-house-price-model v{html.escape(evidence.version)}</h1>"
        f"{sections}</body></html>\n"
    )
    return page
