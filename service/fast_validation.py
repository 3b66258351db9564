"""A quick check that accepts exactly-valid census records without marshmallow's overhead.

It can only say "valid, here is the loaded data" or "not sure": anything it does not
accept goes through the marshmallow schema, so every rejection and every error message is
the schema's own. Its one promise, checked by tests/service/test_fast_validation.py, is
that whatever it accepts the schema accepts too, loaded to the same values.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

# A check returns the loaded data, or None to hand the input to the schema.
Check = Callable[[Any], Optional[Any]]


def value_check(feature: dict[str, Any]) -> Callable[[Any], tuple[bool, Any]]:
    """(accepted, loaded value) for one feature, mirroring its marshmallow field."""
    if feature["kind"] == "numeric":
        low, high = feature["min"], feature["max"]
        if feature.get("type") == "integer":
            # StrictInteger: a JSON integer (never a bool) within the bounds, kept as is.
            return lambda v: (type(v) is int and low <= v <= high, v)
        # StrictNumber: a finite JSON number within the bounds, loaded as a float. The
        # range test comes first: it is exact for huge integers, which isfinite is not.
        return lambda v: (
            type(v) in (int, float) and low <= v <= high and math.isfinite(v),
            v,
        )
    choices = frozenset(feature["categories"])
    nullable = bool(feature.get("nullable"))
    # StrictString + OneOf; None only where the field allows null.
    return lambda v: ((type(v) is str and v in choices) or (v is None and nullable), v)


def is_float_field(feature: dict[str, Any]) -> bool:
    """Whether the schema loads this feature as a float (a non-integer number)."""
    return feature["kind"] == "numeric" and feature.get("type") != "integer"


def record_check(features: list[dict[str, Any]]) -> Check:
    """The quick check for one census record (a dict of exactly the model's features)."""
    checks = [(f["name"], value_check(f), is_float_field(f)) for f in features]
    names = frozenset(name for name, _, _ in checks)

    def check(data: Any) -> Optional[dict[str, Any]]:
        if type(data) is not dict or data.keys() != names:
            return None
        loaded = {}
        for name, accept, as_float in checks:
            ok, value = accept(data[name])
            if not ok:
                return None
            loaded[name] = float(value) if as_float else value
        return loaded

    return check


def batch_check(record: Check, limit: int) -> Check:
    """The quick check for {"records": [1 to `limit` records]} with nothing else."""

    def check(data: Any) -> Optional[dict[str, list]]:
        if type(data) is not dict or data.keys() != {"records"}:
            return None
        records = data["records"]
        if type(records) is not list or not 1 <= len(records) <= limit:
            return None
        loaded = []
        for item in records:
            one = record(item)
            if one is None:
                return None
            loaded.append(one)
        return {"records": loaded}

    return check
