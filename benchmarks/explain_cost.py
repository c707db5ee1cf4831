"""What ``explain=True`` costs, next to the floor it can be held to.

1 row and 1,000 rows of ``test.csv``, all in one run so every figure sees the
same machine. Per size, twice: with the garbage collector running, then with
the start-up objects frozen out of it (``gc.freeze()``, as the service runs):

* ``plain`` and ``explained``: ``make_prediction`` without and with
  ``explain=True``, alternating, and their ratio;
* ``explainer``: ``Explainer.explain`` alone on the batch's design;
* ``dicts``: the response's explanation dicts, measured as ``_explanations``
  (explainer and dicts) minus ``explainer``;
* ``trees``: the graph's ``TreeEnsemble`` node alone (extracted with
  ``onnx.utils``, run by onnxruntime on one thread). Exact TreeSHAP places
  every row on every split of every tree, so it costs at least this much;
  ``floor`` is ``(plain + trees + dicts) / plain``, the least ratio that
  design allows. Skipped, and said so, when ``onnx`` is not installed.

Run from the repository root:
``OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/explain_cost.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from held_out_batches import batches_by_gc_state, held_out_records

from regression_model import load_model, make_prediction
from regression_model.model import LoadedModel, packaged_paths
from regression_model.predict import _explanations

REPEATS = {1: 400, 1000: 15}
TREES_INPUT, TREES_OUTPUT = "design_by_house", "trees_by_house"


def _ms(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def _median_ms(call: Callable[[], Any], repeats: int) -> float:
    call()
    return statistics.median(_ms(call) for _ in range(repeats))


def _trees_session(directory: Path) -> ort.InferenceSession | None:
    """The packaged graph's trees alone, on one thread; ``None`` without ``onnx``."""
    try:
        import onnx.utils
    except ImportError:
        return None
    path = directory / "trees.onnx"
    onnx.utils.extract_model(
        str(packaged_paths().onnx), str(path), [TREES_INPUT], [TREES_OUTPUT]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _row(
    model: LoadedModel,
    batch: list[Any],
    repeats: int,
    trees: ort.InferenceSession | None,
) -> str:
    """One line of the table for ``batch``, under the collector's current state."""
    explainer = model.explainer
    assert explainer is not None
    columns = {name: [row.get(name) for row in batch] for name in model.scorer.features}
    log_prices, design = model.scorer.predict_log_price_and_design_columns(columns)  # type: ignore[attr-defined]
    predictions = np.exp(log_prices).tolist()
    rows = list(range(len(batch)))

    def plain() -> Any:
        return make_prediction(input_data=batch, model=model)

    def explained() -> Any:
        return make_prediction(input_data=batch, model=model, explain=True)

    plain()
    explained()
    plain_ms, explained_ms = [], []
    for _ in range(repeats):
        plain_ms.append(_ms(plain))
        explained_ms.append(_ms(explained))
    p, e = statistics.median(plain_ms), statistics.median(explained_ms)
    alone = _median_ms(lambda: explainer.explain(design), repeats)
    response = _median_ms(
        lambda: _explanations(explainer, predictions, rows, design), repeats
    )
    dicts = response - alone
    line = f"{p:8.3f}  {e:11.3f}  {e / p:5.2f}  {alone:11.3f}  {dicts:7.3f}"
    if trees is None:
        return line
    by_house = np.ascontiguousarray(design.T)
    tree_ms = _median_ms(
        lambda: trees.run([TREES_OUTPUT], {TREES_INPUT: by_house}), repeats
    )
    return f"{line}  {tree_ms:7.3f}  {(p + tree_ms + dicts) / p:5.2f}"


def main() -> None:
    """Print the table: one line per batch size and collector state."""
    records = held_out_records()
    model = load_model()
    if model.explainer is None:
        raise SystemExit("the packaged model offers no explanations")
    with tempfile.TemporaryDirectory() as directory:
        trees = _trees_session(Path(directory))
        if trees is None:
            print("onnx is not importable: the trees and floor columns are skipped")
        print(
            "rows  gc       plain_ms  explained_ms  ratio  explainer_ms  dicts_ms", end=""
        )
        print("" if trees is None else "  trees_ms  floor")
        for state, size, repeats, batch in batches_by_gc_state(records, REPEATS):
            print(f"{size:>4}  {state:<7}  {_row(model, batch, repeats, trees)}")


if __name__ == "__main__":
    main()
