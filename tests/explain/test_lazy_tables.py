"""The explanation tables are verified at load but held only once something explains."""

from __future__ import annotations

from regression_model import make_prediction
from regression_model.model import load_model_from, packaged_paths
from regression_model.processing.schema import EXAMPLE_HOUSE


def test_tables_are_loaded_by_the_first_explanation_only() -> None:
    # Given a freshly loaded model that has priced a row without explaining
    model = load_model_from(packaged_paths(), "onnx")
    make_prediction(input_data=[EXAMPLE_HOUSE], model=model)
    assert "explainer" not in vars(model)
    # When a row is explained
    result = make_prediction(input_data=[EXAMPLE_HOUSE], model=model, explain=True)
    # Then the tables are loaded, once, and explain that row
    assert "explainer" in vars(model)
    assert model.explainer is model.explainer
    assert len(result["explanations"]) == 1
