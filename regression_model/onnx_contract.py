"""The names the exported graph and its readers agree on (see ``export_onnx``).

A module of its own, standard library only, so that the serving side
(``scoring.OnnxScorer``) reads the same names as the exporter without
importing the exporter's scikit-learn and feature-engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GraphNames:
    """The column names the graph's metadata carries, written and read one way."""

    features: tuple[str, ...]
    numbers: tuple[str, ...]
    labels: tuple[str, ...]
    design: tuple[str, ...]

    def to_metadata(self) -> dict[str, str]:
        """The graph's ``metadata_props``: each list comma-separated under its key."""
        return {
            FEATURES_KEY: ",".join(self.features),
            NUMBERS_KEY: ",".join(self.numbers),
            LABELS_KEY: ",".join(self.labels),
            DESIGN_KEY: ",".join(self.design),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> GraphNames:
        """The names in a graph's metadata; a missing or empty key names nothing."""

        def names(key: str) -> tuple[str, ...]:
            joined = metadata.get(key, "")
            return tuple(joined.split(",")) if joined else ()

        return cls(
            features=names(FEATURES_KEY),
            numbers=names(NUMBERS_KEY),
            labels=names(LABELS_KEY),
            design=names(DESIGN_KEY),
        )
