"""What prediction intervals cost: ``make_prediction`` with and without, side by side.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/interval_cost.py

The same loaded model twice: as packaged (its metadata carries the interval
calibration, so every priced row gets ``[low, high]``) and a copy whose
metadata has none (``model_copy``/``dataclasses.replace``, the public APIs
of the frozen records). 1 row and 1,000 rows of ``test.csv``, calls
alternating between the two so both see the same machine; prints each
one's median and their ratio, with the collector running and then frozen
after loading (as the service runs).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from held_out_batches import batches_by_gc_state, held_out_records

from regression_model import LoadedModel, load_model, make_prediction

REPEATS = {1: 2000, 1000: 40}


def without_intervals(model: LoadedModel) -> LoadedModel:
    """``model`` with metadata that carries no interval calibration."""
    metadata = model.metadata.model_copy(update={"intervals": None})
    return dataclasses.replace(model, metadata=metadata)


def alternate(
    batch: list[Any], with_: LoadedModel, without: LoadedModel, repeats: int
) -> tuple[float, float]:
    """Median milliseconds per call with and without intervals, calls alternating."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for intervals, model in ((True, with_), (False, without)):
            start = time.perf_counter()
            make_prediction(input_data=batch, model=model)
            times[intervals].append((time.perf_counter() - start) * 1e3)
    return statistics.median(times[True]), statistics.median(times[False])


def main() -> None:
    """Print with/without-interval medians and ratios for 1 and 1,000 rows."""
    records = held_out_records()
    with_ = load_model()
    if with_.metadata.intervals is None:
        raise SystemExit("the packaged model carries no interval calibration")
    without = without_intervals(with_)
    checked = make_prediction(input_data=records[:1], model=without)
    if "intervals" in checked:
        raise SystemExit("the copy still prices with intervals")
    print("rows  gc       with_ms  without_ms  ratio")
    for state, size, repeats, batch in batches_by_gc_state(records, REPEATS):
        alternate(batch, with_, without, 5)
        with_ms, without_ms = alternate(batch, with_, without, repeats)
        print(
            f"{size:>4}  {state:<7}  {with_ms:7.3f}  {without_ms:10.3f}  "
            f"{with_ms / without_ms:5.3f}"
        )


if __name__ == "__main__":
    main()
