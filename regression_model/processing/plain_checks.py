"""Plain checks: the schema's commonest values, recognised without pydantic.

``HouseFeatures`` decides what a row may hold, but its before-validators are
Python calls, one per field and row, and they were most of the cost of a
prediction. Nearly every value that arrives is already in its final form (an
exact label, a finite number in range, ``null``), so each field also gets a
*plain check* that accepts only such values and gives exactly what pydantic
gives for them; anything else is left to pydantic. The checks are derived
from the schema's public description (``model_fields``, each field's
``FieldInfo.metadata``, the ``Literal`` labels, ``model_config``), so they
cannot drift from it; a schema with anything they do not understand gets no
plain checks at all: slower, never different.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from math import isnan
from typing import Any, Final, Literal, get_args

import numpy as np
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from regression_model.processing.schema import (
    MAX_LABEL_LENGTH,
    LenientLabel,
    normalise_building_class,
    normalise_number,
    row_keys,
)

NOT_PLAIN: Final = object()
NoneType = type(None)
# Bounds are checked on float64 copies of the values, exact up to 2**53.
EXACT_INTEGERS = 2**53
PlainKind = Literal["label", "code", "number", "count"]
# Model settings under which a plain value means what it means by default.
PLAIN_SAFE_CONFIG: dict[str, set[Any]] = {
    "extra": {"ignore"},
    "allow_inf_nan": {False, True},
    "populate_by_name": {False, True},
    "validate_by_name": {False, True},
    "validate_by_alias": {True},
    "frozen": {False, True},
}


@dataclass(frozen=True)
class Bounds:
    """A number field's range, both ends included: ``gt=0`` is ``>= 5e-324``.

    For any float or int ``x``, ``x > a`` exactly when ``x >= nextafter(a, inf)``,
    so one comparison form serves every bound. Plain only when both ends are
    finite, so an infinity never fits.
    """

    lower: float = -math.inf
    upper: float = math.inf

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Whether each element lies within (NaN: no)."""
        result: np.ndarray = (values >= self.lower) & (values <= self.upper)
        return result


@dataclass(frozen=True)
class PlainField:
    """One schema field's plain values and the clean value pydantic gives each.

    ``key`` is the row key pydantic reads first; a row holding any of
    ``other_keys`` (another accepted spelling) takes pydantic's path.
    ``accept`` returns the clean value, or ``NOT_PLAIN`` when pydantic must
    decide. A label field keeps its ``LenientLabel``: text that is not an
    exact label goes through that same function, as in pydantic.
    """

    output: str
    key: str
    other_keys: tuple[str, ...]
    kind: PlainKind
    vocabulary: frozenset[Any] = frozenset()
    bounds: Bounds = Bounds()
    lenient: LenientLabel | None = None

    @cached_property
    def accept(self) -> Callable[[Any], Any]:
        return _ACCEPTORS[self.kind](self)


def _accept_label(plain: PlainField) -> Callable[[Any], Any]:
    vocabulary = plain.vocabulary
    lenient = plain.lenient
    assert lenient is not None

    def accept(value: Any) -> Any:
        if type(value) is str:
            if value in vocabulary:
                return value
            try:  # other case, blanks, "NA": what pydantic's before-validator gives
                label = lenient(value)
            except ValueError:
                return NOT_PLAIN
            return label if label is None or label in vocabulary else NOT_PLAIN
        if value is None or (type(value) is float and isnan(value)):
            return None
        return NOT_PLAIN

    return accept


def _accept_code(plain: PlainField) -> Callable[[Any], Any]:
    vocabulary = plain.vocabulary

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if value in vocabulary else NOT_PLAIN
        if value is None or (kind is float and isnan(value)):
            return None
        if kind is float and value.is_integer() and int(value) in vocabulary:
            return int(value)
        return NOT_PLAIN

    return accept


def _accept_number(plain: PlainField) -> Callable[[Any], Any]:
    lower, upper = plain.bounds.lower, plain.bounds.upper

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is float:
            if lower <= value <= upper:
                return value
            return None if isnan(value) else NOT_PLAIN
        if kind is int:
            return float(value) if lower <= value <= upper else NOT_PLAIN
        return None if value is None else NOT_PLAIN

    return accept


def _accept_count(plain: PlainField) -> Callable[[Any], Any]:
    lower, upper = plain.bounds.lower, plain.bounds.upper

    def accept(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if lower <= value <= upper else NOT_PLAIN
        if value is None or (kind is float and isnan(value)):
            return None
        if kind is float and value.is_integer() and lower <= value <= upper:
            return int(value)
        return NOT_PLAIN

    return accept


_ACCEPTORS: dict[PlainKind, Callable[[PlainField], Callable[[Any], Any]]] = {
    "label": _accept_label,
    "code": _accept_code,
    "number": _accept_number,
    "count": _accept_count,
}


def _plain_field(name: str, info: FieldInfo) -> PlainField | None:
    """The plain check of one field, or ``None`` if its validation is not understood."""
    keys = row_keys(name, info)
    if keys is None or info.default is not None or info.default_factory or info.exclude:
        return None
    befores = [item for item in info.metadata if isinstance(item, BeforeValidator)]
    limits = [item for item in info.metadata if isinstance(item, (Gt, Ge, Lt, Le))]
    choices = [arg for arg in get_args(info.annotation) if arg is not NoneType]
    if (
        len(befores) != 1
        or len(befores) + len(limits) != len(info.metadata)
        or len(choices) != 1
        or NoneType not in get_args(info.annotation)
    ):
        return None
    rule = _plain_rule(befores[0].func, choices[0], limits)
    if rule is None:
        return None
    kind, vocabulary, bounds = rule
    validator = befores[0].func
    return PlainField(
        output=info.serialization_alias or info.alias or name,
        key=keys[0],
        other_keys=keys[1:],
        kind=kind,
        vocabulary=vocabulary,
        bounds=bounds,
        lenient=validator if isinstance(validator, LenientLabel) else None,
    )


PlainRule = tuple[PlainKind, frozenset[Any], Bounds]


def _plain_rule(validator: Any, annotation: Any, limits: list[Any]) -> PlainRule | None:
    """What a plain value of a field with this before-validator and type looks like."""
    if isinstance(validator, LenientLabel) and not limits:
        return _label_rule(validator, get_args(annotation))
    if validator is normalise_building_class and not limits:
        codes = get_args(annotation)
        if codes and all(type(code) is int for code in codes):
            return "code", frozenset(codes), Bounds()
        return None
    if validator is normalise_number and annotation in (float, int):
        return _number_rule(annotation, limits)
    return None


def _label_rule(validator: LenientLabel, labels: tuple[Any, ...]) -> PlainRule | None:
    """Labels the validator returns unchanged are plain as they are."""
    if set(labels) != set(validator.labels):
        return None
    exact = frozenset(
        label
        for label in labels
        if isinstance(label, str)
        and len(label) <= MAX_LABEL_LENGTH
        and validator(label) == label
    )
    return "label", exact, Bounds()


def _number_rule(annotation: Any, limits: list[Any]) -> PlainRule | None:
    """Numbers within both (finite, exactly representable) bounds are plain."""
    lower, upper = -math.inf, math.inf
    for limit in limits:
        value = getattr(limit, type(limit).__name__.lower())
        if type(value) not in (int, float) or float(value) != value:
            return None
        if isinstance(limit, Ge):
            lower = max(lower, float(value))
        elif isinstance(limit, Gt):
            lower = max(lower, math.nextafter(float(value), math.inf))
        elif isinstance(limit, Le):
            upper = min(upper, float(value))
        else:
            upper = min(upper, math.nextafter(float(value), -math.inf))
    if not max(abs(lower), abs(upper)) <= EXACT_INTEGERS:
        return None
    return (
        ("number" if annotation is float else "count"),
        frozenset(),
        Bounds(lower, upper),
    )


DESCRIPTORS = (classmethod, staticmethod, property)


def _defines_behaviour(model: type[BaseModel]) -> bool:
    """Whether ``model`` or a base below ``BaseModel`` defines a method or property.

    Validators (``field_validator``, ``model_validator``), computed fields and
    serialisers are all defined as methods of the model class; plain fields
    are not, so a schema of fields alone has none.
    """
    for cls in model.__mro__:
        if cls is BaseModel or not issubclass(cls, BaseModel):
            continue
        for name, value in vars(cls).items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if callable(value) or isinstance(value, DESCRIPTORS):
                return True
    return False


def plain_fields(model: type[BaseModel]) -> tuple[PlainField, ...] | None:
    """Every field's plain check, or ``None`` if any part of ``model`` is not understood.

    Understood: fields defaulting to ``None`` whose one before-validator is
    one of ``schema``'s (lenient labels, building class, numbers), with
    ``gt``/``ge``/``lt``/``le`` bounds at most; no methods on the model (so
    no validators of its own); model settings that leave plain values alone
    (``PLAIN_SAFE_CONFIG``).
    """
    if _defines_behaviour(model):
        return None
    config: dict[str, Any] = dict(model.model_config)
    for setting, value in config.items():
        if setting in {"json_schema_extra", "title"}:
            continue
        if setting == "str_max_length":
            if value is not None and value < MAX_LABEL_LENGTH:
                return None
            continue
        if value not in PLAIN_SAFE_CONFIG.get(setting, ()):
            return None
    fields = []
    for name, info in model.model_fields.items():
        plain = _plain_field(name, info)
        if plain is None:
            return None
        fields.append(plain)
    return tuple(fields)
