"""Capture a model version's predictions on the fixed comparison inputs.

Run at release time inside an environment where the released wheel is
installed, in isolated mode so the repo checkout cannot be imported instead:

    python -I differential/capture.py --test-csv ... --edge-cases ... --out ...

The output file is committed: it is what later versions are compared with,
and it comes from the released wheel itself, never recomputed by newer code.
This file only imports the standard library and ``regression_model``, so the
same functions serve both the capture (installed wheel) and the comparison
(current source).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

TEST_PREFIX = "test-"
EDGE_PREFIX = "edge-"
ID_COLUMN = "Id"

Predictor = Callable[..., Mapping[str, Any]]


def fixed_inputs(
    test_csv: Path, edge_cases: Path, target: str
) -> tuple[list[str], list[dict[str, Any]], dict[str, float]]:
    """Row keys, rows and held-out prices of the comparison inputs.

    Held-out rows are keyed by their ``Id``, edge cases by their name, so two
    versions are compared row by row even if one of them skips a row.
    """
    from regression_model.processing.data_manager import read_csv  # noqa: PLC0415

    frame = read_csv(test_csv)
    prices = {
        f"{TEST_PREFIX}{row_id}": float(price)
        for row_id, price in zip(frame[ID_COLUMN], frame[target], strict=True)
    }
    keys = list(prices)
    rows = frame.drop(columns=[target]).to_dict(orient="records")
    for case in json.loads(edge_cases.read_text()):
        keys.append(f"{EDGE_PREFIX}{case['case']}")
        rows.append(case["row"])
    return keys, rows, prices


def inputs_digest(keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A stable hash of the comparison inputs, to notice when they change."""
    text = json.dumps(
        [
            [key, {k: _jsonable(v) for k, v in row.items()}]
            for key, row in zip(keys, rows, strict=True)
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def price_metrics(
    actual: Sequence[float], predicted: Sequence[float]
) -> dict[str, float]:
    """RMSE, RMSLE, MAE and R² without third-party code (the capture must be lean)."""
    count = len(actual)
    mean = sum(actual) / count
    squared = sum((p - a) ** 2 for a, p in zip(actual, predicted, strict=True))
    log_sq = sum(
        (math.log(p) - math.log(a)) ** 2 for a, p in zip(actual, predicted, strict=True)
    )
    total = sum((a - mean) ** 2 for a in actual)
    return {
        "rmse": math.sqrt(squared / count),
        "rmsle": math.sqrt(log_sq / count),
        "mae": sum(abs(p - a) for a, p in zip(actual, predicted, strict=True)) / count,
        "r2": 1.0 - squared / total,
    }


def reference_predictor(package: Any) -> Predictor:
    """The installed release's ``make_prediction`` scoring with its reference pipeline.

    Every release is captured with the pipeline, so captures compare like with
    like: from 0.3.0 the package exports ``load_model`` and its default scorer
    is the exported graph, so the pipeline is asked for by name; before, the
    pipeline was the default of ``regression_model.predict.make_prediction``.
    """
    if hasattr(package, "load_model"):
        model = package.load_model("pipeline")

        def predict(*, input_data: list[Any]) -> Mapping[str, Any]:
            result: Mapping[str, Any] = package.make_prediction(
                input_data=input_data, model=model
            )
            return result

        return predict
    from regression_model.predict import make_prediction  # noqa: PLC0415

    return make_prediction


def capture(
    keys: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    prices: Mapping[str, float],
    predict: Predictor,
) -> dict[str, Any]:
    """Predict every comparison row and summarise the outcome per row key."""
    result = predict(input_data=list(rows))
    predictions = dict(zip(keys, result["predictions"], strict=True))
    errors: dict[str, list[str]] = {}
    for error in result["errors"]:
        errors.setdefault(keys[error["row"]], []).append(error["field"])
    scored = [key for key in prices if predictions[key] is not None]
    return {
        "version": result["version"],
        "inputs_sha256": inputs_digest(keys, rows),
        "predictions": predictions,
        "errors": {key: sorted(fields) for key, fields in errors.items()},
        "metrics": price_metrics(
            [prices[key] for key in scored], [predictions[key] for key in scored]
        ),
        "held_out_rows_scored": len(scored),
    }


def main(argv: list[str] | None = None) -> int:
    """Capture the installed model's predictions into a JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-csv", type=Path, required=True)
    parser.add_argument("--edge-cases", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--distribution", default="ames-house-price-model")
    parser.add_argument("--target", default="SalePrice")
    args = parser.parse_args(argv)
    import regression_model  # noqa: PLC0415

    keys, rows, prices = fixed_inputs(args.test_csv, args.edge_cases, args.target)
    captured = capture(keys, rows, prices, reference_predictor(regression_model))
    captured["captured_from"] = {
        "distribution": args.distribution,
        "installed_version": metadata.version(args.distribution),
        "module": str(Path(regression_model.__file__).parent),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(captured, indent=1, sort_keys=True) + "\n")
    print(f"captured v{captured['version']}: {len(keys)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
