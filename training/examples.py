"""The examples a bundle publishes: one confident, correctly predicted valid test record
of each class (a regression: the valid test records of the lowest, the median and the
highest target) and one broken record (and the field it breaks), which the loader
re-scores and the docs and smoke test use. A class nothing is predicted as gets no
example: the bundle publishes the others, and publishing never stops for it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bundle.format import BINARY, MULTICLASS, Example, Examples, Target
from bundle.rules import FeatureRule, record_errors
from training.metrics import labels_from_proba
from training.config import ConfigError


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


def most_confident(
    records: list[dict], proba: np.ndarray, pool: np.ndarray, cls: int, name: str
) -> Example | None:
    """The record of `pool` (indices) scored most surely as class `cls`, or None."""
    if not len(pool):
        return None
    best = pool[np.argmax(proba[pool])] if cls else pool[np.argmin(proba[pool])]
    return Example(records[best], float(proba[best]), name)


def pick_examples(
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    rules: tuple[FeatureRule, ...],
    target: Target,
) -> Examples:
    """The most confident correctly predicted valid test record of each class (the most
    confident one predicted as it, if none is right; none if nothing is predicted as it:
    a high threshold on imbalanced data), and one broken record."""
    records = [typed_record(as_record(row), rules) for _, row in X.iterrows()]
    valid = np.array([not record_errors(rules, r) for r in records], dtype=bool)
    if not valid.any():
        raise ConfigError(
            f"none of the {len(records)} test records passes the feature rules: the "
            "bundle would publish no example to check it by; not publishing"
        )
    if target.task != BINARY:
        return task_examples(records, valid, y, proba, rules, target)
    predicted = labels_from_proba(proba, target.threshold)
    chosen = {}
    for cls, name in ((1, target.positive_name), (0, target.negative_name)):
        right = np.flatnonzero(valid & (y == cls) & (predicted == cls))
        pool = right if len(right) else np.flatnonzero(valid & (predicted == cls))
        chosen[cls] = most_confident(records, proba, pool, cls, name)
    # A valid record is predicted as one class or the other: one of the two exists.
    invalid, field = broken((chosen[1] or chosen[0]).record, rules)
    return Examples(chosen[1], chosen[0], invalid, field)


def task_examples(
    records: list[dict],
    valid: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    rules: tuple[FeatureRule, ...],
    target: Target,
) -> Examples:
    """Multiclass: the most confident correctly predicted valid record of each class
    (else the most confident one predicted as it, else none, as for a binary model);
    regression: the valid records of the lowest, the median and the highest target.
    The caller has checked that some record is valid."""
    chosen = []
    if target.task == MULTICLASS:
        predicted = np.argmax(scores, axis=1)
        for cls, name in enumerate(target.class_names):
            pool = np.flatnonzero(valid & (y == cls) & (predicted == cls))
            if not len(pool):
                pool = np.flatnonzero(valid & (predicted == cls))
            if len(pool):
                best = pool[np.argmax(scores[pool, cls])]
                chosen.append(Example(records[best], float(scores[best, cls]), name))
    else:
        ranked = np.flatnonzero(valid)
        ranked = ranked[np.argsort(y[ranked], kind="stable")]
        for name, at in (("low", 0), ("median", len(ranked) // 2), ("high", -1)):
            row = ranked[at]
            chosen.append(Example(records[row], None, name, float(scores[row])))
    invalid, field = broken(chosen[0].record, rules)
    return Examples(None, None, invalid, field, tuple(chosen))
