"""Request and response envelopes of the API; the row schema itself is the package's.

``PredictionRequest.inputs`` is documented as a list of ``HouseFeatures`` (so
the OpenAPI page shows every field, its type, range and allowed labels) but
validated only as a non-empty list: each row is checked by
``make_prediction``, so one bad row earns an error for that row instead of
failing the whole request. The documented row is the package's, with one
addition: the features a price cannot do without are marked required, so a
row the document calls valid is a row the service can price.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    StrictBool,
)
from pydantic_core import PydanticCustomError

import regression_model
from regression_model import EXAMPLE_HOUSE


def _raw_rows(value: Any) -> Any:
    if not isinstance(value, list):
        raise PydanticCustomError("list_type", "Input should be a list of row objects")
    if not value:
        raise PydanticCustomError("too_short", "inputs must hold at least one row")
    return value


def _require_price_features(schema: dict[str, Any]) -> None:
    """Mark the model's required features required and non-null in the row's schema.

    They are read from the verified metadata of the packaged model
    (``load_model`` is cached, so this is the served model when it serves
    ONNX, the default). Each field keeps its ``anyOf`` (now without the
    ``null`` option), so readers of the document find a field's labels in
    the same place for every field.
    """
    required = regression_model.load_model().metadata.config.required_features
    properties = schema["properties"]
    for name in required:
        field = properties[name]
        field["anyOf"] = [
            option for option in field["anyOf"] if option.get("type") != "null"
        ]
        field.pop("default", None)
    schema["required"] = list(required)


class HouseFeatures(regression_model.HouseFeatures):
    """One house, in Kaggle's column names; unknown fields are ignored.

    Every field may be missing (null) except the required ones, without which
    a price is a guess: a row without them gets an error of its own.
    """

    model_config = ConfigDict(json_schema_extra=_require_price_features)


# The static type documents the rows; the value is the raw list (see module doc).
RawRows = Annotated[list[HouseFeatures], SkipValidation, AfterValidator(_raw_rows)]


class PredictionRequest(BaseModel):
    """A batch of houses to price, in Kaggle's column names."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"inputs": [EXAMPLE_HOUSE]}]}
    )

    inputs: RawRows = Field(
        description="One object per house, at least one and at most MAX_ROWS "
        "(10,000 unless the operator changed it). Fields other than the required "
        "ones may be missing (null); unknown fields are ignored, so a row of Kaggle's "
        "CSV can be sent as it is. FirstFlrSF and SecondFlrSF are accepted for "
        "1stFlrSF and 2ndFlrSF.",
        # Documents the check in _raw_rows, which gives the clearer message.
        json_schema_extra={"minItems": 1},
    )
    explain: StrictBool = Field(
        False,
        description="Also return, per priced row, an exact additive explanation of "
        "its log-price (explanations); off by default.",
        examples=[True],
    )


class RowError(BaseModel):
    """One problem with one row: which row (0-based), which field, what is wrong."""

    row: int
    field: str = Field(description="The field's name, or __row__ for the whole row")
    message: str


class ImputedFields(BaseModel):
    """Fields of a predicted row that were missing and got a learned value."""

    row: int
    fields: list[str]


class Contribution(BaseModel):
    """One feature's share of a row's log-price, and the factor it puts on the price."""

    feature: str = Field(
        description="A Kaggle input, or an engineered column named as such "
        "(TotalSF, TotalBaths, HouseAge, RemodAge), not split to its inputs"
    )
    log_contribution: float
    factor: float = Field(description="exp(log_contribution)")


class RowExplanation(BaseModel):
    """base_log_price + the sum of log_contribution is the row's log-price."""

    row: int
    base_log_price: float = Field(
        description="The model's log-price for the average training house"
    )
    contributions: list[Contribution]


class PredictionResponse(BaseModel):
    """One prediction slot per input row, in input order; ``null`` where the row erred."""

    predictions: list[float | None]
    version: str = Field(description="The model version that made the predictions")
    errors: list[RowError]
    imputed: list[ImputedFields]
    intervals: list[list[float] | None] | None = Field(
        None,
        description="One [low, high] price range in dollars per row, null where the "
        "row has no price: a conformal prediction interval that holds the sale price "
        "with probability interval_coverage (calibrated on out-of-fold errors, wider "
        "where the model prices less surely). Absent if the model has no calibration.",
        examples=[[[163842.5, 224730.1], None]],
    )
    interval_coverage: float | None = Field(
        None,
        description="The intervals' nominal coverage, e.g. 0.9; present with intervals",
        examples=[0.9],
    )
    explanations: list[RowExplanation] | None = Field(
        None,
        description="Only when the request set explain: one entry per priced row, in "
        "row order: a base log-price and one contribution per feature (linear terms "
        "and exact TreeSHAP) that add up to the row's log-price.",
        examples=[
            [
                {
                    "row": 0,
                    "base_log_price": 12.02,
                    "contributions": [
                        {
                            "feature": "OverallQual",
                            "log_contribution": 0.081,
                            "factor": 1.084,
                        },
                        {"feature": "TotalSF", "log_contribution": -0.02, "factor": 0.98},
                    ],
                }
            ]
        ],
    )


class HealthResponse(BaseModel):
    """Whether the service can predict, and with which model."""

    status: Literal["ok", "unavailable"]
    service: str
    api_version: str
    model_version: str | None
    model_package_version: str
    scorer_backend: str
    model_loaded: bool
    self_test_passed: bool


class ErrorResponse(BaseModel):
    """A request-level error: what is wrong, and the id to quote when asking why."""

    detail: str
    request_id: str


BODY_TIMEOUT_RESPONSE: dict[int | str, dict[str, Any]] = {
    408: {
        "model": ErrorResponse,
        "description": "The body did not arrive within BODY_TIMEOUT_SECONDS "
        "(the connection is closed)",
    }
}


class ValidationIssue(BaseModel):
    """One problem with the request envelope, located as pydantic locates it."""

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorResponse(BaseModel):
    """The request envelope is malformed: not JSON, not an object, no usable inputs."""

    detail: list[ValidationIssue]
    request_id: str
