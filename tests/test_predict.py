"""``make_prediction``: one slot per row, numbers for good rows, named errors for bad."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import regression_model
from regression_model import (
    EXAMPLE_HOUSE,
    ROW_LEVEL,
    LoadedModel,
    ModelMetadata,
    PredictionResult,
    load_model,
    make_prediction,
)
from regression_model.config.core import VERSION_FILE, AppConfig
from regression_model.processing.schema import field_labels
from tests.support import REPO_ROOT, run_python


def direct_prices(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Prices straight from the loaded pipeline, bypassing validation."""
    return np.exp(np.asarray(pipeline.predict(frame), dtype=np.float64))


def assert_every_row_answered(result: PredictionResult, n_rows: int) -> None:
    """The contract: one slot per row; each a finite positive price or an error."""
    assert len(result["predictions"]) == n_rows
    rows_with_errors = {error["row"] for error in result["errors"]}
    assert rows_with_errors <= set(range(n_rows))
    for index, price in enumerate(result["predictions"]):
        if price is None:
            assert index in rows_with_errors, f"row {index} has no price and no error"
        else:
            assert math.isfinite(price), (index, price)
            assert price > 0, (index, price)
            assert index not in rows_with_errors, f"row {index} has a price and errors"
    assert [e["row"] for e in result["errors"]] == sorted(
        e["row"] for e in result["errors"]
    )


def test_a_dataframe_gets_one_price_per_row(holdout_frame: pd.DataFrame) -> None:
    frame = holdout_frame.head(40)
    result = make_prediction(input_data=frame)
    assert len(result["predictions"]) == len(frame)
    assert result["errors"] == []
    assert_every_row_answered(result, len(frame))


def test_a_list_of_dicts_gets_one_price_per_row(holdout_frame: pd.DataFrame) -> None:
    rows = holdout_frame.head(40).to_dict(orient="records")
    result = make_prediction(input_data=rows)
    assert len(result["predictions"]) == len(rows)
    assert None not in result["predictions"]


def test_held_out_prices_equal_the_pipelines_own(
    packaged_pipeline: Pipeline, holdout_frame: pd.DataFrame, config: AppConfig
) -> None:
    # Given known held-out rows, sent as JSON-like dicts (validation in the path)
    frame = holdout_frame.head(50)
    rows = json.loads(frame.to_json(orient="records"))
    # When priced by the reference scorer, Then each price equals the loaded
    # pipeline's own on the raw frame
    result = make_prediction(input_data=rows, model=load_model("pipeline"))
    expected = direct_prices(packaged_pipeline, frame.drop(columns=[config.model.target]))
    np.testing.assert_allclose(result["predictions"], expected, rtol=1e-9, atol=0)


def test_held_out_rmsle_equals_the_metric_recorded_at_training(
    packaged_metadata: ModelMetadata, holdout_frame: pd.DataFrame, config: AppConfig
) -> None:
    result = make_prediction(input_data=holdout_frame, model=load_model("pipeline"))
    predicted = np.asarray(result["predictions"], dtype=np.float64)
    actual = holdout_frame[config.model.target].to_numpy(dtype=np.float64)
    rmsle = float(np.sqrt(np.mean((np.log(predicted) - np.log(actual)) ** 2)))
    recorded = packaged_metadata.metrics.test.rmsle
    assert rmsle == pytest.approx(recorded, rel=1e-9)


def test_a_mixed_batch_keeps_order_prices_good_rows_and_names_bad_ones(
    packaged_pipeline: Pipeline,
) -> None:
    # Given good rows interleaved with bad ones
    good = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "GrLivArea": 2500}, {**EXAMPLE_HOUSE}]
    rows: list[Any] = [
        good[0],
        {**EXAMPLE_HOUSE, "GrLivArea": 0},
        good[1],
        "not a house",
        {k: v for k, v in EXAMPLE_HOUSE.items() if k != "Neighborhood"},
        good[2],
        {**EXAMPLE_HOUSE, "ExterQual": "Good", "LotArea": -1},
    ]
    # When priced
    result = make_prediction(input_data=rows, model=load_model("pipeline"))
    # Then good rows get the pipeline's prices in place, bad rows None
    assert_every_row_answered(result, len(rows))
    prices = result["predictions"]
    assert [index for index, price in enumerate(prices) if price is not None] == [0, 2, 5]
    expected = direct_prices(packaged_pipeline, pd.DataFrame(good))
    np.testing.assert_allclose([prices[0], prices[2], prices[5]], expected, rtol=1e-9)
    # And each bad row's errors name it and the offending field, in row order
    assert [error["row"] for error in result["errors"]] == [1, 3, 4, 6, 6]
    assert {(e["row"], e["field"]) for e in result["errors"]} == {
        (1, "GrLivArea"),
        (3, ROW_LEVEL),
        (4, "Neighborhood"),
        (6, "ExterQual"),
        (6, "LotArea"),
    }


def test_errors_name_rows_by_position_not_by_dataframe_index() -> None:
    frame = pd.DataFrame(
        [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "GrLivArea": 0}], index=[70, 9]
    )
    result = make_prediction(input_data=frame)
    assert result["predictions"][0] is not None
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(1, "GrLivArea")]


def test_imputed_lists_each_priced_rows_missing_fields(config: AppConfig) -> None:
    # Given a complete row and a row lacking TotalBsmtSF (absent) and FireplaceQu (NA)
    partial = {**EXAMPLE_HOUSE, "FireplaceQu": "NA"}
    del partial["TotalBsmtSF"]
    rows = [EXAMPLE_HOUSE, partial, {**partial, "GrLivArea": 0}]
    # When priced
    result = make_prediction(input_data=rows)
    # Then only the priced row with gaps is listed, with its gaps in feature order
    expected = [n for n in config.model.features if n in {"TotalBsmtSF", "FireplaceQu"}]
    assert result["imputed"] == [{"row": 1, "fields": expected}]
    assert result["predictions"][1] is not None
    assert result["predictions"][2] is None


@pytest.mark.parametrize(
    "data", [EXAMPLE_HOUSE, "GrLivArea=1804", b"rows", None, 42], ids=repr
)
def test_input_that_is_not_a_list_of_rows_is_an_error_not_an_exception(
    data: Any,
) -> None:
    result = make_prediction(input_data=data)
    assert result["predictions"] == []
    [error] = result["errors"]
    assert error["field"] == ROW_LEVEL
    assert error["row"] == -1
    assert type(data).__name__ in error["message"]
    assert result["version"] == regression_model.__version__


def test_an_empty_batch_gets_an_empty_answer() -> None:
    result = make_prediction(input_data=[])
    assert result["predictions"] == result["errors"] == result["imputed"] == []


def test_version_is_the_packages_the_version_files_and_the_artifacts(
    packaged_metadata: ModelMetadata,
) -> None:
    result = make_prediction(input_data=[EXAMPLE_HOUSE])
    assert result["version"] == regression_model.__version__
    assert result["version"] == VERSION_FILE.read_text().strip()
    assert result["version"] == packaged_metadata.version == load_model().version


class FixedScorer:
    """A scorer returning given log-prices, to drive make_prediction's own logic."""

    def __init__(self, features: list[str], log_prices: Sequence[float]) -> None:
        self._features = features
        self.log_prices = np.asarray(log_prices, dtype=np.float64)
        self.seen: list[dict[str, Any]] = []

    @property
    def features(self) -> list[str]:
        return self._features

    def predict_log_price(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        self.seen = list(records)
        return self.log_prices[: len(records)]


def with_scorer(scorer: FixedScorer, version: str | None = None) -> LoadedModel:
    """The packaged model with ``scorer`` in place of its own (and another version)."""
    model = load_model("pipeline")
    return dataclasses.replace(model, scorer=scorer, version=version or model.version)


def test_a_price_that_overflows_becomes_a_row_error(config: AppConfig) -> None:
    # Given a scorer whose second log-price overflows exp()
    scorer = FixedScorer(config.model.features, [12.0, 1000.0, 11.0])
    # When three valid rows are priced with it
    result = make_prediction(
        input_data=[EXAMPLE_HOUSE] * 3, model=with_scorer(scorer, version="9")
    )
    # Then that row alone gets None and a row-level error
    assert result["predictions"][0] == pytest.approx(math.exp(12.0))
    assert result["predictions"][1] is None
    assert result["predictions"][2] == pytest.approx(math.exp(11.0))
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(1, ROW_LEVEL)]
    assert "not a finite number" in result["errors"][0]["message"]
    assert result["version"] == "9"


def test_the_scorer_sees_only_valid_rows_as_clean_records(config: AppConfig) -> None:
    scorer = FixedScorer(config.model.features, [12.0, 11.0])
    rows = [
        {**EXAMPLE_HOUSE, "Id": 1},
        {"GrLivArea": 0},
        {**EXAMPLE_HOUSE, "MSSubClass": "60"},
    ]
    make_prediction(input_data=rows, model=with_scorer(scorer))
    assert len(scorer.seen) == 2
    assert all(list(record) == config.model.features for record in scorer.seen)
    assert scorer.seen[1]["MSSubClass"] == 60


def test_the_default_model_is_the_cached_packaged_graph(config: AppConfig) -> None:
    model = load_model()
    assert model is load_model("onnx")
    assert model.backend == "onnx"
    assert model.scorer.features == config.model.features
    with pytest.raises(ValueError, match="unknown scorer backend"):
        load_model("tensorflow")  # type: ignore[arg-type]


# --- garbage in, answers out ------------------------------------------------------

FEATURE_NAMES = [*EXAMPLE_HOUSE, "FirstFlrSF", "SecondFlrSF"]


def garbage_makers(rng: random.Random) -> tuple[Callable[[], Any], ...]:
    """One maker per kind of garbage: huge, tiny, non-finite, odd text, containers."""
    return (
        lambda: None,
        lambda: float("nan"),
        lambda: rng.choice([float("inf"), -float("inf")]),
        lambda: rng.choice([1e308, -1e308, 5e-324, 10**400, -(10**30)]),
        lambda: rng.uniform(-1e6, 1e6),
        lambda: rng.randint(-10, 3000),
        lambda: rng.choice([True, False]),
        lambda: "".join(rng.choice("aZ9 .-_\x00é") for _ in range(rng.randint(0, 60))),
        lambda: rng.choice(["NA", "", " ", "None", "nan", "inf", "1e999", "0x10"]),
        lambda: rng.choice([[], [1, 2], {}, {"a": 1}, (3,), b"\xff", object()]),
        lambda: np.float32(rng.uniform(-1e4, 1e4)),
        lambda: np.int64(rng.randint(-(2**62), 2**62)),
    )


def garbage_value(rng: random.Random) -> Any:
    """One value of a random kind."""
    return rng.choice(garbage_makers(rng))()


def legal_value(rng: random.Random, field: str) -> Any:
    """A value the schema accepts for ``field`` (so some garbage rows stay valid)."""
    labels = field_labels()
    if field in labels:
        return rng.choice(labels[field])
    return EXAMPLE_HOUSE.get(field, 1)


def garbage_row(rng: random.Random) -> Any:
    """A row that may be anything; usually a house with a few random fields."""
    kind = rng.random()
    if kind < 0.1:
        return garbage_value(rng)
    if kind < 0.2:
        keys = [*FEATURE_NAMES, "Id", "", 7, 2.5, None, (1, 2)]
        return {rng.choice(keys): garbage_value(rng) for _ in range(rng.randint(0, 6))}
    row: dict[Any, Any] = dict(EXAMPLE_HOUSE)
    for _ in range(rng.randint(1, 4)):
        field = rng.choice([*FEATURE_NAMES, "Id", "junk", 7, None])
        if rng.random() < 0.3 and isinstance(field, str):
            row[field] = legal_value(rng, field)
        elif rng.random() < 0.1:
            row.pop(field, None)
        else:
            row[field] = garbage_value(rng)
    return row


@pytest.mark.parametrize("seed", range(5))
def test_garbage_rows_never_raise_and_every_row_is_answered(seed: int) -> None:
    # Given a seeded batch of random rows
    rng = random.Random(seed)
    rows = [garbage_row(rng) for _ in range(120)]
    # When priced, Then nothing raises and each row has a price or an error
    result = make_prediction(input_data=rows)
    assert_every_row_answered(result, len(rows))
    # And the generator exercised both paths
    priced = sum(price is not None for price in result["predictions"])
    assert 0 < priced < len(rows)


def test_every_garbage_kind_in_every_field_is_answered() -> None:
    # Given each field of the example house replaced by each kind of garbage
    rng = random.Random(2024)
    rows = [
        {**EXAMPLE_HOUSE, field: make()}
        for field in FEATURE_NAMES
        for make in garbage_makers(rng)
    ]
    # Then every row is answered
    assert_every_row_answered(make_prediction(input_data=rows), len(rows))


def test_extreme_but_legal_values_are_answered() -> None:
    # Each value at the edge of its schema range: a price, or an explained refusal.
    rows = [
        {**EXAMPLE_HOUSE, "GrLivArea": 100_000, "LotArea": 10_000_000, "GarageArea": 1e5},
        {**EXAMPLE_HOUSE, "GrLivArea": 1e-9, "1stFlrSF": 1e-9, "LotArea": 1},
        {**EXAMPLE_HOUSE, "YearRemodAdd": 1800, "YrSold": 2100, "GarageCars": 50},
        {**EXAMPLE_HOUSE, "YearRemodAdd": 2100, "YrSold": 1800, "OverallQual": 1},
    ]
    assert_every_row_answered(make_prediction(input_data=rows), len(rows))


# --- lazy loading -----------------------------------------------------------------


@pytest.mark.process
def test_importing_predict_loads_no_model_and_no_heavy_library(tmp_path: Path) -> None:
    # Given a fresh interpreter, When regression_model.predict is imported
    code = (
        "import json, sys\n"
        "import regression_model.predict as p\n"
        "print(json.dumps({\n"
        "  'heavy': sorted(m for m in ('pandas', 'sklearn', 'joblib', 'scipy',\n"
        "                  'feature_engine', 'onnxruntime') if m in sys.modules),\n"
        "  'file': p.__file__}))\n"
    )
    completed = run_python(code, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    # Then nothing was loaded or unpickled, and it was this checkout's module
    assert report == {
        "heavy": [],
        "file": str(REPO_ROOT / "regression_model" / "predict.py"),
    }
