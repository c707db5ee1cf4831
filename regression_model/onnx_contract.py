"""The names the exported graph and its readers agree on (see ``export_onnx``).

A module of its own, with no imports, so that the serving side
(``scoring.OnnxScorer``) reads the same names as the exporter without
importing the exporter's scikit-learn and feature-engine.
"""

OUTPUT_NAME = "log_price"
# A second output: the design both models read, ``[len(design), N]``, what
# ``explain.Explainer`` explains; its rows are named by ``DESIGN_KEY``.
DESIGN_OUTPUT = "design"
NUMBERS_INPUT = "numbers"
LABELS_INPUT = "labels"
# metadata_props keys: Kaggle column names, comma-separated. ``numbers`` and
# ``labels`` name the rows of the inputs of the same name, in order;
# ``features`` names every feature, in the model's order.
FEATURES_KEY = "features"
NUMBERS_KEY = "numbers"
LABELS_KEY = "labels"
DESIGN_KEY = "design"
