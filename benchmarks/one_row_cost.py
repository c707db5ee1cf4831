"""CPU time of pricing one house in process, for the model package on the import path.

    OMP_NUM_THREADS=1 PYTHONPATH=<checkout> python benchmarks/one_row_cost.py

Run it with one checkout's path, then another's (e.g. a worktree of an older
release), in one sitting: the ratio of the two figures is what one model
version costs against the other. Prints the minimum and the median over
``--runs`` runs of ``--calls`` calls of ``make_prediction`` on the example
house, in CPU microseconds per call (``time.process_time``).
"""

from __future__ import annotations

import argparse
import statistics
import time

from regression_model import EXAMPLE_HOUSE, load_model, make_prediction


def per_call_us(calls: int) -> float:
    """CPU microseconds per ``make_prediction`` of one row, over ``calls`` calls."""
    model = load_model()
    rows = [dict(EXAMPLE_HOUSE)]
    start = time.process_time()
    for _ in range(calls):
        make_prediction(input_data=rows, model=model)
    return (time.process_time() - start) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    per_call_us(300)  # warm-up: first calls load the model and fill caches
    figures = [per_call_us(args.calls) for _ in range(args.runs)]
    print(
        f"model {load_model().version}: make_prediction, 1 row: "
        f"min {min(figures):.1f} us, median {statistics.median(figures):.1f} us CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
