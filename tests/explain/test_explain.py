"""Exact explanations: additivity, TreeSHAP against LightGBM, batch independence."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from regression_model import load_model, make_prediction
from regression_model.explain import Explainer
from regression_model.explain_tables import export_explanations, save_npz, write_tables

TOLERANCE = 1e-9


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = frame.drop(columns=["SalePrice"]).to_dict("records")
    return records


def _perturbed(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Held-out rows with numbers scaled and a fifth of optional values blanked."""
    rng = np.random.default_rng(seed)
    rows = frame.drop(columns=["SalePrice"]).copy()
    for name in rows.columns:
        if name in {"GrLivArea", "OverallQual", "Neighborhood"}:
            continue
        if pd.api.types.is_numeric_dtype(rows[name]):
            rows[name] = rows[name] * rng.uniform(0.5, 1.5, len(rows))
        rows[name] = rows[name].astype(object).where(rng.random(len(rows)) > 0.2, None)
    return rows


def _tree_only_explainer(
    pipeline: Pipeline, train: pd.DataFrame, path: Path
) -> Explainer:
    """The packaged model's tables with the blend weighing the trees alone."""
    export_explanations(pipeline, train, path)
    with np.load(path, allow_pickle=False) as tables:
        arrays = dict(tables)
    arrays["blend_weights"] = np.array([0.0, 1.0])
    save_npz(path, arrays)
    return Explainer.from_bytes(path.read_bytes())


def test_every_held_out_row_adds_up_to_its_log_price(holdout_frame: pd.DataFrame) -> None:
    # Given every held-out row
    # When they are priced with explanations
    result = make_prediction(input_data=_records(holdout_frame), explain=True)
    # Then every row is explained, and base + contributions is its log-price
    explanations = result["explanations"]
    assert [e["row"] for e in explanations] == list(range(len(holdout_frame)))
    for explanation in explanations:
        price = result["predictions"][explanation["row"]]
        assert price is not None
        total = explanation["base_log_price"] + sum(
            c["log_contribution"] for c in explanation["contributions"]
        )
        assert abs(total - math.log(price)) <= TOLERANCE * abs(math.log(price))
        assert all(
            c["factor"] == pytest.approx(math.exp(c["log_contribution"]), rel=1e-15)
            for c in explanation["contributions"]
        )


@pytest.mark.parametrize("rows", ["held_out", "perturbed"])
def test_tree_shap_equals_lightgbm_pred_contrib(
    rows: str,
    packaged_pipeline: Pipeline,
    train_frame: pd.DataFrame,
    holdout_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    # Given the packaged trees' tables and rows (perturbed ones miss values)
    explainer = _tree_only_explainer(
        packaged_pipeline, train_frame.drop(columns=["SalePrice"]), tmp_path / "t.npz"
    )
    frame = (
        holdout_frame.drop(columns=["SalePrice"])
        if rows == "held_out"
        else _perturbed(holdout_frame)
    )
    design_frame = packaged_pipeline[:-1].transform(frame)[explainer.features]
    # When both explain the trees
    explained = explainer.explain(design_frame.to_numpy(dtype=np.float64).T)
    trees = packaged_pipeline.steps[-1][1].named_estimators_["trees"]
    reference = trees.predict(design_frame, pred_contrib=True)
    # Then LightGBM's own contributions and expected value agree to 1e-9
    assert np.abs(explained.contributions - reference[:, :-1]).max() <= TOLERANCE
    assert np.abs(explained.base - reference[:, -1]).max() <= TOLERANCE


def test_a_row_is_explained_the_same_alone_and_in_a_batch(
    holdout_frame: pd.DataFrame,
) -> None:
    # Given perturbed rows, priced as one batch and one at a time
    records = _perturbed(holdout_frame).head(40).to_dict("records")
    batch = make_prediction(input_data=records, explain=True)["explanations"]
    # When each row is explained alone
    alone = [
        make_prediction(input_data=[record], explain=True)["explanations"]
        for record in records
    ]
    # Then each priced row's explanation is the same numbers
    by_row = {e["row"]: e for e in batch}
    for index, single in enumerate(alone):
        assert [{**e, "row": index} for e in single] == (
            [by_row[index]] if index in by_row else []
        )


def test_explanations_are_off_by_default(holdout_frame: pd.DataFrame) -> None:
    # Given some rows
    records = _records(holdout_frame.head(5))
    # When priced without asking for explanations
    default = make_prediction(input_data=records)
    # Then the result has none and is the same as explain=False, byte for byte
    assert "explanations" not in default
    assert json.dumps(default) == json.dumps(
        make_prediction(input_data=records, explain=False)
    )


def test_a_row_without_a_price_gets_no_explanation(example_house: dict[str, Any]) -> None:
    # Given a good row and one missing a required feature
    broken = {**example_house, "GrLivArea": None}
    # When both are priced with explanations
    result = make_prediction(input_data=[broken, example_house], explain=True)
    # Then only the priced row is explained, with one contribution per design column
    assert result["predictions"][0] is None
    (explanation,) = result["explanations"]
    assert explanation["row"] == 1
    names = [c["feature"] for c in explanation["contributions"]]
    assert names == load_model().scorer.design_names  # type: ignore[attr-defined]
    assert "TotalSF" in names
    assert "GrLivArea" in names


def test_a_model_without_tables_refuses_to_explain(example_house: dict[str, Any]) -> None:
    # Given the reference backend, whose scorer gives no design
    model = load_model("pipeline")
    # When asked for explanations, Then it says the model offers none
    with pytest.raises(ValueError, match="offers no explanations"):
        make_prediction(input_data=[example_house], model=model, explain=True)


def test_tables_with_a_stump_explain_each_cell_exactly(tmp_path: Path) -> None:
    # Given trees-only tables of a stump (no split) and one split on "a" at 1.0
    # whose left leaf (1.0) holds three of the four training rows, right (-1.0) one
    split = {
        "split_feature": 0,
        "threshold": 1.0,
        "internal_count": 4,
        "left_child": {"leaf_value": 1.0, "leaf_count": 3},
        "right_child": {"leaf_value": -1.0, "leaf_count": 1},
    }
    dump = {
        "tree_info": [{"tree_structure": {"leaf_value": 0.5}}, {"tree_structure": split}]
    }
    write_tables(
        tmp_path / "t.npz",
        design_names=["a", "b"],
        training_design=np.zeros((4, 2)),
        logged_names=[],
        log_shift=1.0,
        linear_weights=np.zeros(2),
        linear_bias=0.0,
        blend_weights=(0.0, 1.0),
        dump=dump,
    )
    explainer = Explainer.from_bytes((tmp_path / "t.npz").read_bytes())
    # When rows below, on and above the threshold are explained
    explained = explainer.explain(np.array([[0.5, 1.0, 2.0], [7.0, 7.0, 7.0]]))
    # Then the base is the stump plus the split's cover-weighted mean, and "a"
    # moves each row to its leaf ("<=" goes left, as in the graph)
    assert explained.base.tolist() == [1.0, 1.0, 1.0]
    assert explained.contributions.tolist() == [[0.5, 0.0], [0.5, 0.0], [-1.5, 0.0]]
