"""What ``explain=True`` costs: ``make_prediction`` with and without it, side by side.

1 row and 1,000 rows of ``test.csv``, alternating plain and explained calls
in one run so both see the same machine; prints the median time of each and
their ratio, plus the explanation's own parts (the tables' NumPy work and
building the response's dicts). Run from the repository root:
``PYTHONPATH=. python benchmarks/explain_cost.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from regression_model import load_model, make_prediction
from regression_model.config.core import load_config
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.validation import rows_from_input

REPEATS = {1: 400, 1000: 15}


def _median_ms(call: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    """Print plain vs explained ``make_prediction`` times for 1 and 1,000 rows."""
    config = load_config()
    held_out = load_dataset(config.app.test_data_file).drop(columns=[config.model.target])
    records = rows_from_input(held_out)
    model = load_model()
    scorer = model.scorer
    explainer = model.explainer
    if explainer is None:
        raise SystemExit("the packaged model offers no explanations")
    print("rows  plain_ms  explained_ms  ratio  tables_ms")
    for size, repeats in REPEATS.items():
        batch = (records * (size // len(records) + 1))[:size]

        def plain(batch: list[Any] = batch) -> Any:
            return make_prediction(input_data=batch, model=model)

        def explained(batch: list[Any] = batch) -> Any:
            return make_prediction(input_data=batch, model=model, explain=True)

        columns = {name: [row.get(name) for row in batch] for name in scorer.features}
        _, design = scorer.predict_log_price_and_design_columns(columns)  # type: ignore[attr-defined]
        plain()
        explained()
        plain_ms, explained_ms = [], []
        for _ in range(repeats):
            plain_ms.append(_median_ms(plain, 1))
            explained_ms.append(_median_ms(explained, 1))

        def tables(design: Any = design) -> Any:
            return explainer.explain(design)

        tables_ms = _median_ms(tables, repeats)
        p, e = statistics.median(plain_ms), statistics.median(explained_ms)
        print(f"{size:>4}  {p:8.3f}  {e:12.3f}  {e / p:5.2f}  {tables_ms:9.3f}")


if __name__ == "__main__":
    main()
