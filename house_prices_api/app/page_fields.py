"""The price page's form fields, read from the model package's row schema.

The page asks first for the features that move the price most and keeps the
rest under "More details"; types, ranges and allowed labels come from
``HouseFeatures``'s JSON schema, so the form cannot drift from what the API
accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from regression_model import HouseFeatures

# The features that move the price most, in the order the page asks for them.
MAIN_FEATURES = (
    "Neighborhood",
    "GrLivArea",
    "OverallQual",
    "YearRemodAdd",
    "1stFlrSF",
    "LotArea",
    "GarageCars",
    "GarageArea",
    "ExterQual",
    "KitchenQual",
    "BsmtQual",
    "Fireplaces",
)
# Labels people read; a field missing here is labelled by its column name.
LABELS = {
    "Neighborhood": "Neighbourhood",
    "GrLivArea": "Living area (sq ft)",
    "OverallQual": "Overall quality (1 to 10)",
    "YearRemodAdd": "Year built or last remodelled",
    "1stFlrSF": "First floor area (sq ft)",
    "LotArea": "Lot area (sq ft)",
    "GarageCars": "Garage size (cars)",
    "GarageArea": "Garage area (sq ft)",
    "ExterQual": "Exterior quality",
    "KitchenQual": "Kitchen quality",
    "BsmtQual": "Basement height",
    "Fireplaces": "Fireplaces",
}
QUALITY_NAMES = {
    "Ex": "Excellent",
    "Gd": "Good",
    "TA": "Typical",
    "Fa": "Fair",
    "Po": "Poor",
}


@dataclass(frozen=True)
class FormField:
    """One input of the form: a row key and how to ask for it."""

    name: str
    label: str
    hint: str
    kind: Literal["number", "select"]
    options: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False


@cache
def form_fields() -> tuple[tuple[FormField, ...], tuple[FormField, ...]]:
    """The main fields (``MAIN_FEATURES`` the schema has), then all the others."""
    properties: dict[str, Any] = HouseFeatures.model_json_schema()["properties"]
    fields = {name: _field(name, spec) for name, spec in properties.items()}
    main = tuple(fields[name] for name in MAIN_FEATURES if name in fields)
    rest = tuple(field for name, field in fields.items() if name not in MAIN_FEATURES)
    return main, rest


def _field(name: str, spec: dict[str, Any]) -> FormField:
    value = next(option for option in spec["anyOf"] if option.get("type") != "null")
    hint = spec.get("description", "").replace(" (required)", "")
    label = LABELS.get(name, name)
    if "enum" in value:
        return FormField(
            name=name,
            label=label,
            hint="" if name in LABELS else hint,
            kind="select",
            options=tuple((str(code), _option_text(str(code))) for code in value["enum"]),
        )
    return FormField(
        name=name,
        label=label,
        hint="" if name in LABELS else hint,
        kind="number",
        minimum=value.get("minimum"),
        maximum=value.get("maximum"),
        integer=value["type"] == "integer",
    )


def _option_text(code: str) -> str:
    quality = QUALITY_NAMES.get(code)
    return f"{quality} ({code})" if quality else code
