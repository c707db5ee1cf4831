"""Judge the comparison against the thresholds and write it: JSON summary, HTML, PNGs."""

from __future__ import annotations

import html
import json
import math
import string
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitoring.drift import (
    FeatureDrift,
    compare_labels,
    compare_numbers,
    numbers_psi,
    rmsle,
)
from monitoring.snapshot import TARGET, Features, ModelAge, to_number
from monitoring.sources import LiveRows

PAGE_TEMPLATE = Path(__file__).with_name("report.html")
SUMMARY = "summary.json"
PAGE = "index.html"
PLOTTED_FEATURES = 12


@dataclass(frozen=True)
class Finding:
    """A crossed threshold: what, where, the value and the limit."""

    check: str
    subject: str
    value: float
    limit: float


def compare(
    features: Features, training: list[dict[str, str]], live: LiveRows
) -> list[FeatureDrift]:
    """Every schema feature of the live rows against the training snapshot."""
    drifts = []
    for name in features.numbers:
        drifts.append(
            compare_numbers(
                name,
                [row.get(name) for row in training],
                [row.get(name) for row in live.features],
            )
        )
    for name in features.labels:
        drifts.append(
            compare_labels(
                name,
                [row.get(name) for row in training],
                [row.get(name) for row in live.features],
            )
        )
    return drifts


def judge(
    drifts: list[FeatureDrift], summary: dict[str, Any], thresholds: dict[str, Any]
) -> list[Finding]:
    """The thresholds each part of the summary crosses (empty: all is well)."""
    findings = []
    drift, missing, unseen = (
        thresholds["drift"],
        thresholds["missing"],
        thresholds["unseen_labels"],
    )
    for item in drifts:
        if (
            item.live_rows >= drift["min_rows"]
            and item.psi is not None
            and item.p_value is not None
            and item.psi >= drift["psi"]
            and item.p_value < drift["p_value"]
        ):
            findings.append(Finding("drift", item.feature, item.psi, drift["psi"]))
        rise = item.live_missing - item.train_missing
        if rise > missing["max_increase"]:
            findings.append(
                Finding("missing", item.feature, rise, missing["max_increase"])
            )
        if item.unseen_rate is not None and item.unseen_rate > unseen["max_rate"]:
            findings.append(
                Finding(
                    "unseen_labels", item.feature, item.unseen_rate, unseen["max_rate"]
                )
            )
    predictions = summary["predictions"]
    if (
        predictions["psi"] is not None
        and predictions["rows"] >= drift["min_rows"]
        and predictions["psi"] >= drift["psi"]
    ):
        findings.append(
            Finding("drift", "predicted price", predictions["psi"], drift["psi"])
        )
    accuracy = thresholds["accuracy"]
    feedback = summary["feedback"]
    if (
        feedback["rows"] >= accuracy["min_feedback"]
        and feedback["rmsle"] is not None
        and feedback["rmsle"] > accuracy["max_rmsle"]
    ):
        findings.append(
            Finding("accuracy", "live RMSLE", feedback["rmsle"], accuracy["max_rmsle"])
        )
    age_limit = thresholds["staleness"]["max_model_age_days"]
    if summary["model"]["age_days"] > age_limit:
        findings.append(
            Finding(
                "staleness", "model age (days)", summary["model"]["age_days"], age_limit
            )
        )
    return findings


def summarise(
    training: list[dict[str, str]],
    live: LiveRows,
    drifts: list[FeatureDrift],
    age: ModelAge,
) -> dict[str, Any]:
    """The numbers the report is made of (the JSON summary without the findings)."""
    train_prices = np.array([to_number(row[TARGET]) for row in training])
    priced = np.array([price for price in live.prices if price is not None], dtype=float)
    prediction_psi = (
        numbers_psi(np.log(train_prices), np.log(priced)) if len(priced) else None
    )
    pairs = [
        (p, s)
        for p, s in zip(live.prices, live.sale_prices, strict=True)
        if p is not None and s is not None
    ]
    imputed = None
    if live.imputed is not None:
        counts = Counter(name for fields in live.imputed for name in fields)
        imputed = {
            name: count / max(len(live.imputed), 1)
            for name, count in counts.most_common()
        }
    return {
        "live_rows": len(live.features),
        "training_rows": len(training),
        "model": {
            "version": age.version,
            "age_days": age.days,
            "age_since": age.since.isoformat(),
            "age_basis": age.basis,
        },
        "predictions": {
            "rows": len(priced),
            "psi": prediction_psi,
            "median": float(np.median(priced)) if len(priced) else None,
            "training_median_sale_price": float(np.median(train_prices)),
        },
        "feedback": {
            "rows": len(pairs),
            "rmsle": rmsle(*zip(*pairs, strict=True)) if pairs else None,
        },
        "imputed_rates": imputed,
        "features": [asdict(item) for item in drifts],
    }


def write(
    out: Path,
    *,
    summary: dict[str, Any],
    findings: list[Finding],
    training: list[dict[str, str]],
    live: LiveRows,
    drifts: list[FeatureDrift],
) -> None:
    """Write summary.json, index.html and its PNGs into ``out``."""
    import matplotlib  # noqa: PLC0415 - only when writing, and headless

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    document = {
        **summary,
        "findings": [asdict(finding) for finding in findings],
        "passed": not findings,
    }
    (out / SUMMARY).write_text(
        json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8"
    )
    flagged = {finding.subject for finding in findings}
    ranked = sorted(
        drifts, key=lambda item: (item.feature not in flagged, -(item.psi or 0))
    )
    images = [_plot(out, item, training, live) for item in ranked[:PLOTTED_FEATURES]]
    (out / PAGE).write_text(_page(document, drifts, flagged, images), encoding="utf-8")


def _plot(
    out: Path, item: FeatureDrift, training: list[dict[str, str]], live: LiveRows
) -> str:
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(5, 3), dpi=80)
    train_values = [row.get(item.feature) for row in training]
    live_values = [row.get(item.feature) for row in live.features]
    if item.kind == "number":
        train = np.array([to_number(v) for v in train_values])
        now = np.array([to_number(v) for v in live_values])
        train, now = train[~np.isnan(train)], now[~np.isnan(now)]
        bins = np.histogram_bin_edges(
            np.concatenate([train, now]) if len(now) else train, bins=30
        )
        axes.hist(train, bins=bins, density=True, alpha=0.5, label="training")
        if len(now):
            axes.hist(now, bins=bins, density=True, alpha=0.5, label="live")
    else:
        train_counts = Counter(str(v) for v in train_values if v not in (None, "", "NA"))
        live_counts = Counter(str(v) for v in live_values if v not in (None, "", "NA"))
        labels = sorted(set(train_counts) | set(live_counts))
        positions = np.arange(len(labels))
        train_total, live_total = (
            max(sum(train_counts.values()), 1),
            max(sum(live_counts.values()), 1),
        )
        axes.bar(
            positions - 0.2,
            [train_counts[x] / train_total for x in labels],
            0.4,
            label="training",
        )
        axes.bar(
            positions + 0.2,
            [live_counts[x] / live_total for x in labels],
            0.4,
            label="live",
        )
        axes.set_xticks(positions, labels, rotation=90, fontsize=6)
    axes.set_title(
        f"{item.feature} (PSI {item.psi if item.psi is not None else float('nan'):.3f})"
    )
    axes.legend()
    figure.tight_layout()
    name = f"{item.feature}.png"
    figure.savefig(out / name)
    plt.close(figure)
    return name


def _page(
    document: dict[str, Any],
    drifts: list[FeatureDrift],
    flagged: set[str],
    images: list[str],
) -> str:
    columns: tuple[str, ...] = (
        "feature",
        "kind",
        "live_rows",
        "psi",
        "p_value",
        "train_missing",
        "live_missing",
        "unseen_rate",
        "unseen_labels",
    )
    rows = "".join(
        f"<tr{' class=flagged' if item.feature in flagged else ''}>"
        + "".join(f"<td>{_cell(asdict(item)[column])}</td>" for column in columns)
        + "</tr>"
        for item in drifts
    )
    findings = "".join(
        f"<li>{_cell(f['check'])}: {_cell(f['subject'])} = {_cell(f['value'])} "
        f"(limit {_cell(f['limit'])})</li>"
        for f in document["findings"]
    )
    model, predictions = document["model"], document["predictions"]
    template = string.Template(PAGE_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        live_rows=f"{document['live_rows']:,}",
        training_rows=f"{document['training_rows']:,}",
        version=_cell(model["version"]),
        age_days=f"{model['age_days']:.0f}",
        age_basis=_cell(model["age_basis"]),
        findings=findings or "<li>none: every check passed</li>",
        priced=f"{predictions['rows']:,}",
        median=_cell(predictions["median"]),
        training_median=_cell(predictions["training_median_sale_price"]),
        prediction_psi=_cell(predictions["psi"]),
        rmsle=_cell(document["feedback"]["rmsle"]),
        feedback_rows=f"{document['feedback']['rows']:,}",
        columns="".join(f"<th>{column.replace('_', ' ')}</th>" for column in columns),
        rows=rows,
        images="".join(
            f'<img src="{_cell(name)}" alt="{_cell(name)}">' for name in images
        ),
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return html.escape("" if value is None else str(value))
