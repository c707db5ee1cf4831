"""Latency and throughput of the two scorers, side by side, in one process.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/onnx_vs_pipeline.py

Both scorers get the same validated held-out records (built as
``make_prediction`` builds them). The scorer contract takes records (dicts),
so the ONNX figures include building the column arrays from them; the graph
alone (``score_columns`` on prebuilt arrays) is reported beside them, since
a caller holding columnar data pays only that. Each figure is the median of
several timed rounds, to damp this machine's noise.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from itertools import cycle, islice
from typing import Any

from regression_model.config.core import packaged_config
from regression_model.predict import load_scorer
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.validation import rows_from_input, validate_rows
from regression_model.scoring import OnnxScorer


def held_out_records() -> list[dict[str, Any]]:
    """The held-out split as the validated records a scorer receives."""
    config = packaged_config()
    frame = load_dataset(config.app.test_data_file).drop(columns=[config.model.target])
    validated = validate_rows(
        rows_from_input(frame), config.model.features, config.model.required_features
    )
    return [record for record in validated.records if record is not None]


def seconds_per_call(call: Callable[[], object], *, budget: float, rounds: int) -> float:
    """Median seconds per call over ``rounds`` rounds of about ``budget`` seconds."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(budget / rounds / once))
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        timings.append((time.perf_counter() - start) / calls)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per figure")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    records = held_out_records()
    pipeline = load_scorer("pipeline")
    onnx = load_scorer("onnx")
    assert isinstance(onnx, OnnxScorer)
    timing = {"budget": args.budget, "rounds": args.rounds}

    print(
        f"{'rows':>6} | {'pipeline':>12} | {'onnx (records)':>14} | "
        f"{'onnx (arrays)':>13} | {'speed-up records':>16} | {'speed-up arrays':>15}"
    )
    for size in (1, 100, 10_000):
        batch = list(islice(cycle(records), size))
        columns = onnx.columns(batch)
        reference = seconds_per_call(
            lambda b=batch: pipeline.predict_log_price(b), **timing
        )
        with_records = seconds_per_call(
            lambda b=batch: onnx.predict_log_price(b), **timing
        )
        arrays_only = seconds_per_call(lambda c=columns: onnx.score_columns(c), **timing)
        if size == 1:
            cells = [
                f"{seconds * 1e3:9.4f} ms"
                for seconds in (reference, with_records, arrays_only)
            ]
        else:
            cells = [
                f"{size / seconds:9,.0f} r/s"
                for seconds in (reference, with_records, arrays_only)
            ]
        print(
            f"{size:>6} | {cells[0]:>12} | {cells[1]:>14} | {cells[2]:>13} |"
            f" {reference / with_records:15.0f}x | {reference / arrays_only:14.0f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
