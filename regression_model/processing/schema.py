"""The input schema: one source of truth for what a house row may contain.

The model package owns it and the API reuses it, so the two can never
disagree. Every model feature is optional here (a missing value is imputed
downstream, or rejected for the few required features by ``validation``);
what is checked is that a given value is possible: the right type, a finite
number in a physical range, a label from the Ames data's own vocabulary.
Labels are matched ignoring case and surrounding blanks (``" gd "`` is
``"Gd"``); ``"NA"``, the empty string, ``null`` and NaN all mean missing,
as in Kaggle's CSV files.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

MAX_LABEL_LENGTH = 32
MISSING_TEXT = frozenset({"", "na"})


def is_missing(value: Any) -> bool:
    """True for every spelling of "no value": None, NaN, "", "NA", pandas' NA."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TEXT
    return type(value).__name__ in {"NAType", "NaTType"}


class LenientLabel:
    """A label field's before-validator: missing is ``None``; case and blanks don't count.

    A class rather than a closure so that ``validation`` can recognise it and
    take a label that is already exact without a call into pydantic.
    """

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._by_folded = {label.casefold(): label for label in labels}

    def __call__(self, value: Any) -> Any:
        if is_missing(value):
            return None
        if isinstance(value, str):
            if len(value) > MAX_LABEL_LENGTH:
                raise ValueError(
                    f"label is {len(value)} characters long; "
                    f"no valid label exceeds {MAX_LABEL_LENGTH}"
                )
            return self._by_folded.get(value.strip().casefold(), value)
        return value


def normalise_number(value: Any) -> Any:
    """A number field's before-validator: missing is ``None``; a boolean is refused."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str) and len(value) > MAX_LABEL_LENGTH:
        raise ValueError(f"text of {len(value)} characters is not a number")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # NumPy scalars from a DataFrame row
    return value


def normalise_building_class(value: Any) -> Any:
    """MSSubClass arrives as 20, 20.0 or "20": all mean the class 20."""
    value = normalise_number(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def lenient(labels_type: Any) -> BeforeValidator:
    """Match a ``Literal`` type's labels ignoring case and surrounding blanks."""
    return BeforeValidator(LenientLabel(get_args(labels_type)))


Number = Annotated[float | None, BeforeValidator(normalise_number)]
Count = Annotated[int | None, BeforeValidator(normalise_number)]

BuildingClassCode = Literal[
    20, 30, 40, 45, 50, 60, 70, 75, 80, 85, 90, 120, 150, 160, 180, 190
]  # fmt: skip
ZoningLabel = Literal["A (agr)", "C (all)", "FV", "I (all)", "RH", "RL", "RP", "RM"]
NeighborhoodLabel = Literal[
    "Blmngtn", "Blueste", "BrDale", "BrkSide", "ClearCr", "CollgCr", "Crawfor",
    "Edwards", "Gilbert", "Greens", "GrnHill", "IDOTRR", "Landmrk", "MeadowV",
    "Mitchel", "NAmes", "NPkVill", "NWAmes", "NoRidge", "NridgHt", "OldTown",
    "SWISU", "Sawyer", "SawyerW", "Somerst", "StoneBr", "Timber", "Veenker",
]  # fmt: skip
ExteriorLabel = Literal[
    "AsbShng", "AsphShn", "BrkComm", "BrkFace", "CBlock", "CemntBd", "HdBoard",
    "ImStucc", "MetalSd", "Other", "Plywood", "PreCast", "Stone", "Stucco",
    "VinylSd", "Wd Sdng", "WdShing",
]  # fmt: skip
QualityLabel = Literal["Ex", "Gd", "TA", "Fa", "Po"]
ExposureLabel = Literal["Gd", "Av", "Mn", "No"]
YesNoLabel = Literal["N", "Y"]
FunctionalLabel = Literal["Typ", "Min1", "Min2", "Mod", "Maj1", "Maj2", "Sev", "Sal"]
SaleConditionLabel = Literal[
    "Normal", "Abnorml", "AdjLand", "Alloca", "Family", "Partial"
]

Quality = Annotated[QualityLabel | None, lenient(QualityLabel)]


# The smallest frontage, lot area, first floor and living area a house can
# have (feet, square feet). The model takes the log of three of them: zero or
# less has no log, and a positive value far below any house (5e-324 sq ft) was
# priced at about 1e-108 dollars, a number with no meaning. One is below every
# house in the data (the smallest: 21 ft of frontage, 334 sq ft of living area).
MIN_SIZE = 1


def _area(description: str, *, minimum: float = 0, limit: float = 100_000) -> Any:
    return Field(default=None, ge=minimum, le=limit, description=description)


class HouseFeatures(BaseModel):
    """One house, in Kaggle's column names; every field may be missing.

    Columns that are not model features (``Id``, ``Street``, ...) are ignored,
    so a row of Kaggle's CSV can be sent as it is.
    """

    model_config = ConfigDict(
        extra="ignore",
        allow_inf_nan=False,
        populate_by_name=True,
        str_max_length=MAX_LABEL_LENGTH,
        frozen=True,
    )

    MSSubClass: Annotated[
        BuildingClassCode | None, BeforeValidator(normalise_building_class)
    ] = Field(None, description="Building class code (20 = 1-story 1946+, ...)")
    MSZoning: Annotated[ZoningLabel | None, lenient(ZoningLabel)] = Field(
        None, description="General zoning classification"
    )
    LotArea: Number = _area("Lot size in square feet", minimum=MIN_SIZE, limit=10_000_000)
    Neighborhood: Annotated[NeighborhoodLabel | None, lenient(NeighborhoodLabel)] = Field(
        None, description="Physical location within Ames city limits (required)"
    )
    OverallQual: Count = Field(
        None, ge=1, le=10, description="Overall material and finish, 1-10 (required)"
    )
    OverallCond: Count = Field(None, ge=1, le=10, description="Overall condition, 1-10")
    YearBuilt: Count = Field(None, ge=1800, le=2100, description="Construction year")
    YearRemodAdd: Count = Field(None, ge=1800, le=2100, description="Remodel year")
    Exterior1st: Annotated[ExteriorLabel | None, lenient(ExteriorLabel)] = None
    ExterQual: Quality = None
    BsmtQual: Quality = Field(None, description="Basement height; missing: none")
    BsmtExposure: Annotated[ExposureLabel | None, lenient(ExposureLabel)] = None
    BsmtFinSF1: Number = _area("Type 1 finished basement square feet")
    TotalBsmtSF: Number = _area("Total basement square feet")
    HeatingQC: Quality = None
    CentralAir: Annotated[YesNoLabel | None, lenient(YesNoLabel)] = None
    FirstFlrSF: Number = Field(
        None,
        ge=MIN_SIZE,
        le=100_000,
        validation_alias=AliasChoices("1stFlrSF", "FirstFlrSF"),
        serialization_alias="1stFlrSF",
        description="First floor square feet",
    )
    SecondFlrSF: Number = Field(
        None,
        ge=0,
        le=100_000,
        validation_alias=AliasChoices("2ndFlrSF", "SecondFlrSF"),
        serialization_alias="2ndFlrSF",
        description="Second floor square feet",
    )
    GrLivArea: Number = _area(
        "Above-ground living area, sq ft (required)", minimum=MIN_SIZE
    )
    BsmtFullBath: Count = Field(None, ge=0, le=20)
    FullBath: Count = Field(None, ge=0, le=20)
    HalfBath: Count = Field(None, ge=0, le=20)
    BedroomAbvGr: Count = Field(None, ge=0, le=50)
    KitchenQual: Quality = None
    Functional: Annotated[FunctionalLabel | None, lenient(FunctionalLabel)] = None
    Fireplaces: Count = Field(None, ge=0, le=20)
    FireplaceQu: Quality = Field(None, description="Fireplace quality; missing: none")
    GarageCars: Count = Field(None, ge=0, le=50)
    GarageArea: Number = _area("Garage size in square feet")
    ScreenPorch: Number = _area("Screen porch area in square feet")
    SaleCondition: Annotated[SaleConditionLabel | None, lenient(SaleConditionLabel)] = (
        None
    )
    YrSold: Count = Field(None, ge=1800, le=2100, description="Year sold")


def row_keys(name: str, info: FieldInfo) -> tuple[str, ...] | None:
    """The keys a row may give field ``name`` by, the one pydantic tries first first.

    ``None`` for an alias that is not plain text (a path into nested data).
    """
    alias = info.validation_alias or info.alias
    if alias is None:
        return (name,)
    if isinstance(alias, str):
        return (alias, name) if alias != name else (name,)
    if isinstance(alias, AliasChoices) and all(
        isinstance(choice, str) for choice in alias.choices
    ):
        return tuple(dict.fromkeys([*(str(c) for c in alias.choices), name]))
    return None


def field_labels() -> dict[str, tuple[Any, ...]]:
    """Each categorical field's allowed labels (for docs, tests and fuzzing)."""
    labels = {}
    for name, info in HouseFeatures.model_fields.items():
        for arg in get_args(info.annotation):
            choices = get_args(arg)
            if choices and all(isinstance(choice, (str, int)) for choice in choices):
                labels[info.serialization_alias or name] = choices
    return labels


# A real house from the held-out split (Id 10, sold in 2010 for $189,000): the
# documented example request and the service's start-up self-test.
EXAMPLE_HOUSE: dict[str, Any] = {
    "MSSubClass": 60, "MSZoning": "RL", "LotArea": 7500, "Neighborhood": "Gilbert",
    "OverallQual": 7, "OverallCond": 5, "YearBuilt": 1999, "YearRemodAdd": 1999,
    "Exterior1st": "VinylSd", "ExterQual": "TA", "BsmtQual": "TA",
    "BsmtExposure": "No", "BsmtFinSF1": 0, "TotalBsmtSF": 994, "HeatingQC": "Gd",
    "CentralAir": "Y", "1stFlrSF": 1028, "2ndFlrSF": 776, "GrLivArea": 1804,
    "BsmtFullBath": 0, "FullBath": 2, "HalfBath": 1, "BedroomAbvGr": 3,
    "KitchenQual": "Gd", "Functional": "Typ", "Fireplaces": 1, "FireplaceQu": "TA",
    "GarageCars": 2, "GarageArea": 442, "ScreenPorch": 0,
    "SaleCondition": "Normal", "YrSold": 2010,
}  # fmt: skip
