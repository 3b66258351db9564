"""The examples a bundle publishes: one confident, correctly predicted valid test record
of each class (a regression: the valid test records of the lowest, the median and the
highest target) and one broken record (and the field it breaks), which the loader
re-scores and the docs and smoke test use."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bundle.format import BINARY, MULTICLASS, Example, Examples, Target
from bundle.rules import FeatureRule, record_errors
from training.metrics import labels_from_proba
from training.onnx_export import ParityError


def as_record(row: pd.Series) -> dict[str, Any]:
    """A table row as an API record: Python types, None for missing, whole floats as int."""
    out = {}
    for col, value in row.items():
        if pd.isna(value):
            out[col] = None
        elif isinstance(value, (float, np.floating)):
            out[col] = int(value) if float(value).is_integer() else float(value)
        else:
            out[col] = value.item() if isinstance(value, np.generic) else value
    return out


def typed_record(record: dict[str, Any], rules: tuple[FeatureRule, ...]) -> dict:
    """A record with each number typed as its rule wants (number fields as float)."""
    kinds = {r.name: r.kind for r in rules}
    return {
        k: float(v) if kinds[k] == "number" and v is not None else v
        for k, v in record.items()
    }


def broken(record: dict[str, Any], rules: tuple[FeatureRule, ...]) -> tuple[dict, str]:
    """The record with one field made invalid (a number above its maximum, else an
    unknown category), and that field's name."""
    rule = next((r for r in rules if r.numeric), rules[0])
    if rule.numeric:
        bad = int(rule.maximum) + 1 if rule.kind == "integer" else rule.maximum + 1.0
    else:
        bad = "not-a-category:" + max(rule.categories, key=len)
    return {**record, rule.name: bad}, rule.name


def pick_examples(
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    rules: tuple[FeatureRule, ...],
    target: Target,
) -> Examples:
    """The most confident correctly predicted valid test record of each class."""
    records = [typed_record(as_record(row), rules) for _, row in X.iterrows()]
    valid = np.array([not record_errors(rules, r) for r in records], dtype=bool)
    if target.task != BINARY:
        return task_examples(records, valid, y, proba, rules, target)
    predicted = labels_from_proba(proba, target.threshold)
    chosen = {}
    for cls, name in ((1, target.positive_name), (0, target.negative_name)):
        ok = np.flatnonzero(valid & (y == cls) & (predicted == cls))
        if not len(ok):
            raise ParityError(
                f"no valid test record of class {name!r} is predicted as {name!r}: "
                "the model cannot be smoke-tested; not publishing"
            )
        best = ok[np.argmax(proba[ok])] if cls else ok[np.argmin(proba[ok])]
        chosen[cls] = Example(records[best], float(proba[best]), name)
    invalid, field = broken(chosen[1].record, rules)
    return Examples(chosen[1], chosen[0], invalid, field)


def task_examples(
    records: list[dict],
    valid: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    rules: tuple[FeatureRule, ...],
    target: Target,
) -> Examples:
    """Multiclass: the most confident correct valid record of each class; regression:
    the valid records of the lowest, the median and the highest target."""
    chosen = []
    if target.task == MULTICLASS:
        predicted = np.argmax(scores, axis=1)
        for cls, name in enumerate(target.class_names):
            ok = np.flatnonzero(valid & (y == cls) & (predicted == cls))
            if not len(ok):
                raise ParityError(
                    f"no valid test record of class {name!r} is predicted as "
                    f"{name!r}: the model cannot be smoke-tested; not publishing"
                )
            best = ok[np.argmax(scores[ok, cls])]
            chosen.append(Example(records[best], float(scores[best, cls]), name))
    else:
        ok = np.flatnonzero(valid)
        if not len(ok):
            raise ParityError("no valid test record to publish; not publishing")
        ranked = ok[np.argsort(y[ok], kind="stable")]
        for name, at in (("low", 0), ("median", len(ranked) // 2), ("high", -1)):
            row = ranked[at]
            chosen.append(Example(records[row], None, name, float(scores[row])))
    invalid, field = broken(chosen[0].record, rules)
    return Examples(None, None, invalid, field, tuple(chosen))
