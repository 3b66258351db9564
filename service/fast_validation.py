"""A quick check that accepts exactly-valid records without marshmallow's overhead.

It can only say "valid, here is the loaded data" or "not sure": anything it does not
accept goes through the marshmallow schema, so every rejection and every error message is
the schema's own. Both are derived from the same rules (bundle/rules.py); the promise,
checked by tests/service/test_fast_validation.py, is that whatever this accepts the schema
accepts too, loaded to the same values.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from bundle.rules import FeatureRule

# A check returns the loaded data, or None to hand the input to the schema.
Check = Callable[[Any], Optional[Any]]


def record_check(rules: Sequence[FeatureRule]) -> Check:
    """The quick check for one record (a dict of exactly the model's features)."""
    checks = [(r.name, r.accepts, r.kind == "number") for r in rules]
    names = frozenset(name for name, _, _ in checks)

    def check(data: Any) -> Optional[dict[str, Any]]:
        if type(data) is not dict or data.keys() != names:
            return None
        loaded = {}
        for name, accepts, as_float in checks:
            value = data[name]
            if not accepts(value):
                return None
            loaded[name] = float(value) if as_float and value is not None else value
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
