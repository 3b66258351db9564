"""marshmallow schemas for the API, built from the feature list stored with the model.

The request schema follows the model: field names, types, bounds and allowed categories all
come from the bundle's metadata, so swapping in another data set changes the contract
without touching this file.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.fast_validation import batch_check, record_check


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, strings and floats (no silent coercion)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A finite number that refuses booleans and strings."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Not a valid number.")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond any float: out of range, not a 500
            raise ValidationError("Number too large.") from None
        if not finite:
            raise ValidationError("Must be a finite number.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictString(fields.String):
    """A string, never a number turned into one."""


def feature_field(feature: dict[str, Any]) -> fields.Field:
    """One marshmallow field for one feature of the model's contract."""
    if feature["kind"] == "numeric":
        cls = StrictInteger if feature.get("type") == "integer" else StrictNumber
        return cls(
            required=True,
            validate=validate.Range(min=feature["min"], max=feature["max"]),
        )
    choices = feature["categories"]
    return StrictString(
        required=True,
        allow_none=bool(feature.get("nullable")),
        validate=validate.OneOf(choices, error="Must be one of: {choices}."),
    )


class FastPathSchema(Schema):
    """A schema that first tries a quick check (service/fast_validation.py).

    The check only ever accepts input this schema accepts, with the same result; all
    else, and every error message, comes from marshmallow as usual.
    """

    fast_check: Any = None

    def load(self, data, *, many=None, partial=None, unknown=None):
        plain = not (many or self.many or partial or self.partial)
        plain = plain and self.only is None and not self.exclude
        if plain and (unknown or self.unknown) == RAISE and self.fast_check:
            loaded = self.fast_check(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)


def record_schema(features: list[dict[str, Any]], fast: bool = True) -> type[Schema]:
    """The census record: every feature required, unknown fields rejected.

    `fast=False` leaves out the quick check: marshmallow alone, the reference.
    """
    attrs: dict[str, Any] = {f["name"]: feature_field(f) for f in features}
    attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
    attrs["fast_check"] = staticmethod(record_check(features)) if fast else None
    return type("CensusRecord", (FastPathSchema,), attrs)


def batch_schema(record: type[Schema], limit: int) -> type[Schema]:
    """A batch: `records`, a list of 1 to `limit` census records, answered in order."""
    schema = FastPathSchema.from_dict(
        {
            "records": fields.List(
                fields.Nested(record),
                required=True,
                validate=validate.Length(
                    min=1, max=limit, error=f"Send between 1 and {limit} records."
                ),
            )
        },
        name="BatchRequest",
    )
    if getattr(record, "fast_check", None):
        schema.fast_check = staticmethod(batch_check(record.fast_check, limit))
    return schema


class PredictionSchema(Schema):
    """One answer."""

    prediction = fields.String(required=True, metadata={"example": ">50K"})
    probability = fields.Float(
        required=True, metadata={"description": "probability of the positive class"}
    )


class PredictResponseSchema(PredictionSchema):
    """The answer to POST /predict."""

    model_version = fields.String(required=True)


class BatchResponseSchema(Schema):
    """The answer to POST /predict/batch, in request order."""

    predictions = fields.List(fields.Nested(PredictionSchema), required=True)
    model_version = fields.String(required=True)
