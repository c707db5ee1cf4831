"""Held-out houses in batches for in-process benchmarks, collector running then frozen.

The service freezes its start-up objects out of the garbage collector
(``gc.freeze``), a library user does not: each batch size is measured both
ways, in that order, and the collector is unfrozen at the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from typing import Any

from regression_model.config.core import load_config
from regression_model.processing.data_manager import load_dataset
from regression_model.processing.validation import rows_from_input


def held_out_records() -> list[Any]:
    """The rows of ``test.csv`` without the target, as ``make_prediction`` takes them."""
    config = load_config()
    held_out = load_dataset(config.app.test_data_file).drop(columns=[config.model.target])
    return list(rows_from_input(held_out))


def batches_by_gc_state(
    records: list[Any], repeats: Mapping[int, int]
) -> Iterator[tuple[str, int, int, list[Any]]]:
    """``(state, size, repeats, batch)`` per size, state ``running`` then ``frozen``."""
    for state in ("running", "frozen"):
        if state == "frozen":
            gc.collect()
            gc.freeze()
        for size, count in repeats.items():
            yield state, size, count, (records * (size // len(records) + 1))[:size]
    gc.unfreeze()
