"""marshmallow schemas for the API, derived from the rules stored with the model.

Field names, types, bounds, allowed categories and every message come from the bundle's
feature rules (bundle/rules.py), so another data set changes the contract without
touching this file, and the schema, the quick path and the batch reader cannot disagree.
"""

from __future__ import annotations

from typing import Any, Sequence

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)

from bundle.format import MULTICLASS, REGRESSION, Target
from bundle.rules import AS_MISSING, FeatureRule
from service.fast_validation import batch_check, record_check

FIELD_TYPES = {
    "integer": fields.Integer,
    "number": fields.Float,
    "category": fields.String,
}


def feature_field(rule: FeatureRule, example: Any = None) -> fields.Field:
    """One marshmallow field for one feature; the rule does the checking."""
    base = FIELD_TYPES[rule.kind]
    doc: dict[str, Any] = {"example": example} if example is not None else {}
    if rule.numeric:
        doc.update(minimum=rule.minimum, maximum=rule.maximum)
        if rule.imputed:
            doc["description"] = f"May be null: {rule.imputed}."
    elif rule.any_text:  # an unseen category is scored: no enum to keep to
        doc["description"] = (
            f"Any text: {len(rule.categories)} values seen in training; another is "
            f"scored as {'missing' if rule.unseen == AS_MISSING else 'a rare one'}."
        )
    else:
        codes = list(rule.number_codes)
        doc["enum"] = list(rule.categories) + codes + ([None] if rule.nullable else [])
        if codes:  # codes that look like numbers: "1" or 1 (the CSV's own row as JSON)
            base = fields.Raw
            doc["anyOf"] = [{"type": "string"}, {"type": "number"}]

    def deserialize(self, value, attr, data, **kwargs):
        message = rule.error(value)
        if message is not None:
            raise ValidationError(message)
        return rule.load(value)

    cls = type(f"{base.__name__}Rule", (base,), {"_deserialize": deserialize})
    return cls(required=True, allow_none=rule.nullable, metadata=doc)


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


def record_schema(
    rules: Sequence[FeatureRule], fast: bool = True, example: dict | None = None
) -> type[Schema]:
    """A record: every feature required, unknown fields rejected.

    `fast=False` leaves out the quick check: marshmallow alone, the reference.
    """
    example = example or {}
    # marshmallow stores a loaded value under its field's name, reading a dot as a
    # nested key ("priors_count.1" went into "priors_count": a 500): each feature is a
    # dot-free field reading its own name (data_key), renamed back once loaded.
    names = {f"feature_{i}": r.name for i, r in enumerate(rules)}
    attrs: dict[str, Any] = {}
    for key, rule in zip(names, rules):
        attrs[key] = feature_field(rule, example.get(rule.name))
        attrs[key].data_key = rule.name

    @post_load
    def feature_names(self, data, **kwargs):
        return {names[key]: value for key, value in data.items()}

    attrs["feature_names"] = feature_names
    attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
    attrs["fast_check"] = staticmethod(record_check(rules)) if fast else None
    return type("Record", (FastPathSchema,), attrs)


def batch_size_error(data: Any, limit: int) -> str | None:
    """Why a batch has the wrong number of records, or None (also when `records` is not
    a list at all: the schema says that)."""
    records = data.get("records") if isinstance(data, dict) else None
    if isinstance(records, list) and not 1 <= len(records) <= limit:
        return f"Send between 1 and {limit} records; this batch has {len(records)}."
    return None


def batch_schema(record: type[Schema], limit: int) -> type[Schema]:
    """A batch: `records`, a list of 1 to `limit` records, answered in order."""

    @pre_load
    def count_first(self, data, **kwargs):
        # marshmallow validates every item before the list's length: 300,000 empty
        # records took minutes and a 200 MB error body to be told there are too many.
        error = batch_size_error(data, limit)
        if error is not None:
            raise ValidationError(error, "records")
        return data

    records = fields.List(
        fields.Nested(record),
        required=True,
        # Never fails after count_first; it gives the spec its minItems and maxItems.
        validate=validate.Length(min=1, max=limit),
    )
    attrs: dict[str, Any] = {"records": records, "count_first": count_first}
    if getattr(record, "fast_check", None):
        attrs["fast_check"] = staticmethod(batch_check(record.fast_check, limit))
    return type("BatchRequest", (FastPathSchema,), attrs)


class PredictionSchema(Schema):
    """One answer (a binary model's)."""

    prediction = fields.String(
        required=True, metadata={"description": "the predicted class"}
    )
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


class MulticlassPredictionSchema(Schema):
    """One answer of a multiclass model."""

    prediction = fields.String(
        required=True, metadata={"description": "the most probable class"}
    )
    probability = fields.Float(
        required=True, metadata={"description": "probability of the predicted class"}
    )
    probabilities = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        required=True,
        metadata={"description": "every class's probability, by class name"},
    )


class RegressionPredictionSchema(Schema):
    """One answer of a regression model."""

    prediction = fields.Float(
        required=True, metadata={"description": "the predicted value"}
    )


def response_schemas(target: Target) -> tuple[type[Schema], type[Schema]]:
    """The /predict and /predict/batch answer schemas of the model's task: one family,
    `prediction` always (a class name, or a regression's number), `probability` for a
    classifier, `probabilities` for a multiclass one. A binary model's are the classes
    above, unchanged."""
    if target.task not in (MULTICLASS, REGRESSION):
        return PredictResponseSchema, BatchResponseSchema
    one = (
        MulticlassPredictionSchema
        if target.task == MULTICLASS
        else RegressionPredictionSchema
    )
    prefix = one.__name__.removesuffix("PredictionSchema")
    single = type(
        f"{prefix}PredictResponse",
        (one,),
        {"model_version": fields.String(required=True)},
    )
    batch = type(
        f"{prefix}BatchResponse",
        (Schema,),
        {
            "predictions": fields.List(fields.Nested(one), required=True),
            "model_version": fields.String(required=True),
        },
    )
    return single, batch
