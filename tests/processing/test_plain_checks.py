"""Plain checks are derived only from a schema they fully understand."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field, model_validator

from regression_model.processing.plain_checks import plain_fields
from regression_model.processing.schema import Count, HouseFeatures


class Plain(BaseModel):
    rooms: Count = Field(None, ge=0, le=20)


class WithModelValidator(BaseModel):
    rooms: Count = Field(None, ge=0, le=20)

    @model_validator(mode="after")
    def check(self) -> WithModelValidator:
        return self


class WithComputedField(BaseModel):
    rooms: Count = Field(None, ge=0, le=20)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def doubled(self) -> int:
        return 2 * (self.rooms or 0)


class Inheriting(WithModelValidator):
    floors: Count = Field(None, ge=0, le=5)


def test_a_schema_of_bounded_fields_alone_gets_plain_checks() -> None:
    fields = plain_fields(Plain)
    assert fields is not None
    [rooms] = fields
    assert (rooms.key, rooms.kind, rooms.bounds.lower, rooms.bounds.upper) == (
        "rooms",
        "count",
        0,
        20,
    )


def test_a_schema_with_methods_of_its_own_or_inherited_gets_none() -> None:
    # Validators and computed fields are methods: the plain checks cannot know them
    assert plain_fields(WithModelValidator) is None
    assert plain_fields(WithComputedField) is None
    assert plain_fields(Inheriting) is None


def test_the_house_schema_is_understood_with_one_check_per_field() -> None:
    fields = plain_fields(HouseFeatures)
    assert fields is not None
    assert [field.output for field in fields] == [
        info.serialization_alias or name
        for name, info in HouseFeatures.model_fields.items()
    ]
