"""Latency and throughput of the two scorers, side by side, in one process.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/onnx_vs_pipeline.py

The first table times the scoring step alone. Both scorers get the same
validated held-out rows; the scorer contract takes records (dicts), so
"onnx (records)" includes laying records out as columns, "onnx (columns)"
starts from the validated columns that ``make_prediction`` hands it, and
"graph alone" (``score_columns`` on prebuilt arrays) is what a caller
already holding the graph's arrays pays, and "inputs alone" is the floor
under it: the same arrays fed to a graph with the same inputs that computes
nothing (onnxruntime converts every fed array, each string one element by
element, before any node runs). "per-column inputs alone" is that floor
for the graph's layout before 0.2.0, one input per column (38 arrays
instead of two), the alternative the two-input layout replaced. The second
table times the whole of ``make_prediction`` (validation, scoring, the
result) on raw held-out rows, as the service runs it. Each figure is the
median of several timed rounds, to damp this machine's noise; the
speed-ups are against the pipeline on the same rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from regression_model import load_model, make_prediction
from regression_model.config.core import packaged_config
from regression_model.model import packaged_paths
from regression_model.onnx_contract import LABELS_KEY, NUMBERS_KEY, GraphNames
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.validation import rows_from_input, validate_rows
from regression_model.scoring import OnnxScorer

SIZES = (1, 100, 10_000)


def held_out_rows() -> list[dict[str, Any]]:
    """The held-out split as raw rows, as a client would send them."""
    config = packaged_config()
    frame = load_dataset(config.app.test_data_file).drop(columns=[config.model.target])
    return rows_from_input(frame)


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


def _session(model: Any) -> Callable[[dict[str, Any]], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda arrays: session.run(["rows"], arrays)


def _feed_only_model(inputs: list[Any], ir_version: int) -> Any:
    """A graph that reads ``inputs`` and computes nothing but the first one's shape."""
    from onnx import TensorProto, helper

    return helper.make_model(
        helper.make_graph(
            [helper.make_node("Shape", [inputs[0].name], ["rows"])],
            "inputs_alone",
            inputs,
            [helper.make_tensor_value_info("rows", TensorProto.INT64, [2])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=ir_version,
    )


def input_floor(graph_path: Path) -> Callable[[dict[str, Any]], object]:
    """A session with the graph's inputs and no work: what feeding alone costs."""
    import onnx

    graph = onnx.load(graph_path)
    return _session(_feed_only_model(list(graph.graph.input), graph.ir_version))


def per_column_floor(
    graph_path: Path,
) -> tuple[
    Callable[[dict[str, Any]], object], Callable[[dict[str, Any]], dict[str, Any]]
]:
    """The same floor for the layout before 0.2.0: one 1-D input per column.

    Returns the session's call and what turns the graph's two arrays into
    that layout's feed (each row of them, a view): the alternative the
    two-input layout replaced, timed in the same run.
    """
    import onnx
    from onnx import TensorProto, helper

    graph = onnx.load(graph_path)
    names = GraphNames.from_metadata(
        {prop.key: prop.value for prop in graph.metadata_props}
    )
    layout = [
        (NUMBERS_KEY, names.numbers, TensorProto.DOUBLE),
        (LABELS_KEY, names.labels, TensorProto.STRING),
    ]
    inputs = [
        helper.make_tensor_value_info(name, kind, ["N"])
        for _, columns, kind in layout
        for name in columns
    ]

    def per_column(arrays: dict[str, Any]) -> dict[str, Any]:
        return {
            name: arrays[block][row]
            for block, columns, _ in layout
            for row, name in enumerate(columns)
        }

    return _session(_feed_only_model(inputs, graph.ir_version)), per_column


def cell(size: int, seconds: float) -> str:
    """One row's time in ms, or a batch's rows per second."""
    if size == 1:
        return f"{seconds * 1e3:9.4f} ms"
    return f"{size / seconds:9,.0f} r/s"


def print_table(
    title: str, columns: list[str], rows: list[tuple[int, list[float]]]
) -> None:
    """Rows of (size, [seconds per column]); speed-ups against the first column."""
    widths = [max(len(name), 13) for name in columns]
    print(title)
    header = " | ".join(
        f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)
    )
    speedups = " | ".join(
        f"{'x ' + name:>{max(len(name) + 2, 8)}}" for name in columns[1:]
    )
    print(f"{'rows':>6} | {header} | {speedups}")
    for size, timings in rows:
        cells = " | ".join(
            f"{cell(size, seconds):>{width}}"
            for seconds, width in zip(timings, widths, strict=True)
        )
        ratios = " | ".join(
            f"{timings[0] / seconds:>{max(len(name) + 2, 8)}.0f}"
            for name, seconds in zip(columns[1:], timings[1:], strict=True)
        )
        print(f"{size:>6} | {cells} | {ratios}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per figure")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    config = packaged_config().model
    raw = held_out_rows()
    models = [load_model("pipeline"), load_model("onnx")]
    pipeline, onnx = (model.scorer for model in models)
    assert isinstance(onnx, OnnxScorer)
    feed_alone = input_floor(packaged_paths().onnx)
    feed_per_column, split_per_column = per_column_floor(packaged_paths().onnx)
    timing: dict[str, Any] = {"budget": args.budget, "rounds": args.rounds}
    print("load average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print()

    scoring: list[tuple[int, list[float]]] = []
    end_to_end: list[tuple[int, list[float]]] = []
    for size in SIZES:
        batch = list(islice(cycle(raw), size))
        validated = validate_rows(batch, onnx.features, config.required_features)
        assert len(validated.valid_indices) == size
        records = validated.valid_records()
        columns = validated.columns
        arrays = onnx.graph_inputs(columns)
        calls: list[Callable[[], object]] = [
            partial(pipeline.predict_log_price, records),
            partial(onnx.predict_log_price, records),
            partial(onnx.predict_log_price_columns, columns),
            partial(onnx.score_columns, arrays),
            partial(feed_alone, arrays),
            partial(feed_per_column, split_per_column(arrays)),
        ]
        scoring.append((size, [seconds_per_call(call, **timing) for call in calls]))
        whole = [
            partial(make_prediction, input_data=batch, model=model) for model in models
        ]
        end_to_end.append((size, [seconds_per_call(call, **timing) for call in whole]))
    print_table(
        "The scoring step (validated rows in, log-prices out)",
        [
            "pipeline",
            "onnx (records)",
            "onnx (columns)",
            "graph alone",
            "inputs alone",
            "per-column inputs alone",
        ],
        scoring,
    )
    print_table(
        "make_prediction (raw rows in: validation, scoring, the result)",
        ["pipeline", "onnx"],
        end_to_end,
    )
    print("load average at end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
