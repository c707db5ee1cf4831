"""A house's price never depends on the rows it shares a batch with, to the bit.

The service scores each request's valid rows as one batch, so a row's
neighbours (other houses, or the bad rows that drop out of a batch) change
the batch's size and the row's place in it. Both scorers must give every
held-out house exactly (==) the log-price it gets alone, at every batch size
and position tried: SIMD packets, BLAS blocking and tail loops must not leak
into answers.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model.config.core import AppConfig
from regression_model.processing.artifacts import ArtifactPaths
from regression_model.scoring import OnnxScorer, PipelineScorer, Scorer
from tests.support import held_out_records

BATCH_SIZES = (2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100)
BATCHES_PER_SIZE = 4
ROWS_ALONE = 120


@pytest.fixture(scope="module", params=["onnx", "pipeline"])
def scorer(
    request: pytest.FixtureRequest,
    packaged_paths: ArtifactPaths,
    packaged_pipeline: Pipeline,
) -> Scorer:
    if request.param == "onnx":
        return OnnxScorer(packaged_paths.onnx)
    return PipelineScorer(packaged_pipeline)


def test_every_row_prices_as_alone_in_any_batch(
    scorer: Scorer, holdout_frame: pd.DataFrame, config: AppConfig
) -> None:
    records: list[dict[str, Any]] = held_out_records(holdout_frame, config)[:ROWS_ALONE]
    alone = np.array([scorer.predict_log_price([record])[0] for record in records])
    rng = random.Random(0)
    moved: list[str] = []
    for size in BATCH_SIZES:
        for _ in range(BATCHES_PER_SIZE):
            picked = [rng.randrange(len(records)) for _ in range(size)]
            batch = scorer.predict_log_price([records[index] for index in picked])
            moved += [
                f"row {index} at {position} of {size}: {batch[position]!r} "
                f"!= {alone[index]!r}"
                for position, index in enumerate(picked)
                if batch[position] != alone[index]
            ]
    assert not moved, moved[:5]


def test_the_whole_held_out_split_prices_as_row_by_row(
    scorer: Scorer, holdout_frame: pd.DataFrame, config: AppConfig
) -> None:
    records = held_out_records(holdout_frame, config)
    together = scorer.predict_log_price(records)
    sample = range(0, len(records), 7)
    alone = [scorer.predict_log_price([records[index]])[0] for index in sample]
    assert [together[index] for index in sample] == alone
