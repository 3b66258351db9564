"""The reference profile the bundle carries, so the service can watch for drift.

Feature bins and shares come from the training split (what the model learned from); the
distribution of predictions and each slice's figure (predicted-positive rate, each
class's share or the mean predicted value, by task) come from the held-out split scored
by the served engine (what unseen, in-distribution traffic looks like), next to the
slice metrics the evaluation reports (binary). The bin rules
are monitoring/profile.py's; this module only measures the data. Deterministic: the same
data and model give the same bytes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from bundle.format import BINARY, MULTICLASS
from bundle.profile import MISSING, band_column
from bundle.rules import FeatureRule
from monitoring.profile import (
    OTHER,
    UNKNOWN,
    CategoryBins,
    ClassBins,
    NumericBins,
    Profile,
    SliceGroup,
    SliceRules,
    rounded,
)
from monitoring.slices import add_bands, slice_metrics
from training.metrics import labels_from_proba
from training.params import SliceParams

DECILES = np.linspace(0.1, 0.9, 9)
# A category rarer than this in training is counted in (other): its own bin would be
# mostly noise, and one more metric series.
MIN_CATEGORY_SHARE = 0.01
PROBABILITY = "probability"
# The prediction bins' names of a multiclass and a regression model.
CLASS, VALUE = "class", "value"


def numeric_bins(name: str, values, missing: bool = False) -> NumericBins:
    """Bins between the deciles of `values` (repeated deciles merged) and the share of
    values in each; with `missing`, the share of missing values (NaN) last."""
    v = np.asarray(values, dtype=np.float64)
    seen = v[~np.isnan(v)]
    # Edges at full precision: rounded, a tie at a decile could land in the next bin.
    edges = tuple(float(x) for x in np.unique(np.quantile(seen, DECILES)))
    bins = NumericBins(name, edges, (0.0,) * (len(edges) + 1 + missing), missing)
    counts = np.bincount(bins.bins(v), minlength=len(bins.shares))
    return NumericBins(name, edges, rounded(counts / len(v)), missing)


def category_bins(rule: FeatureRule, column: pd.Series) -> CategoryBins:
    """Buckets for the frequent categories, (other), (unknown) and (missing)."""
    values = column.astype(object).where(column.notna(), None).tolist()
    n, counts = len(values), Counter(values)
    known = set(rule.categories)
    # A category training grouped is never a bin of its own: the model does not see it.
    frequent = [c for c in kept(rule) if counts[c] / n >= MIN_CATEGORY_SHARE]
    rare = [c for c in rule.categories if c not in frequent]
    unknown = sum(k for v, k in counts.items() if v is not None and v not in known)
    shares = [counts[c] / n for c in frequent]
    shares += [sum(counts[c] for c in rare) / n, unknown / n, counts[None] / n]
    return CategoryBins(
        rule.name, (*frequent, OTHER, UNKNOWN, MISSING), rounded(shares), tuple(rare)
    )


def kept(rule: FeatureRule) -> list[str]:
    """The categories the model was fitted on as themselves (not grouped)."""
    grouped = set(rule.grouped)
    return [c for c in rule.categories if c not in grouped]


def slice_keys(column: pd.Series) -> pd.Series:
    """Slice values as the evaluation names them: the value, or (missing)."""
    return column.astype(object).where(column.notna(), MISSING)


def slice_group(
    feature: str,
    source: str,
    values: list[str],
    edges: list[float] | None,
    keys: pd.Series,
    predicted: np.ndarray,
    table: pd.DataFrame,
) -> SliceGroup:
    """One feature's slices with their held-out support, positive rate and F1."""
    rows = table[table["feature"] == feature].set_index("value")
    support, rate, f1, small = [], [], [], []
    for value in values:
        hit = (keys == value).to_numpy()
        support.append(int(hit.sum()))
        rate.append(float(predicted[hit].mean()) if hit.any() else None)
        known = value in rows.index
        f1.append(float(rows.at[value, "f1"]) if known else None)
        small.append(bool(rows.at[value, "too_small"]) if known else True)
    return SliceGroup(
        feature=feature,
        source=source,
        values=tuple(values),
        band_edges=None if edges is None else tuple(float(e) for e in edges),
        support=tuple(support),
        positive_rate=rounded(rate),
        f1=rounded(f1),
        too_small=tuple(small),
    )


def slice_plan(
    X: pd.DataFrame, rules: tuple[FeatureRule, ...], sp: SliceParams
) -> tuple[pd.DataFrame, list[tuple]]:
    """The evaluation's slices (evaluate.slices in params.yaml) whose source the model
    takes: every categorical feature, and the bands of numeric features; with the
    banded frame they are read from."""
    bands = {c: e for c, e in sp.bands.items() if c in X.columns}
    banded = add_bands(X, bands)
    # A grouped category is no slice of its own: the model never sees it.
    plan = [(r.name, r.name, [*kept(r), MISSING], None) for r in rules if not r.numeric]
    for col, edges in bands.items():
        labels = [str(c) for c in banded[band_column(col)].cat.categories]
        plan.append((band_column(col), col, labels, edges))
    return banded, plan


def slice_groups(
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    rules: tuple[FeatureRule, ...],
    threshold: float,
    sp: SliceParams,
) -> tuple[SliceGroup, ...]:
    """A binary model's slices, with predicted-positive rate and F1."""
    banded, plan = slice_plan(X, rules, sp)
    predicted = labels_from_proba(proba, threshold)
    table = slice_metrics(
        banded,
        y,
        predicted,
        [feature for feature, *_ in plan],
        sp.min_support,
        sp.f1_margin,
        sp.min_positives,
    )
    return tuple(
        slice_group(f, source, values, edges, slice_keys(banded[f]), predicted, table)
        for f, source, values, edges in plan
    )


def task_slice_group(
    feature: str,
    source: str,
    values: list[str],
    edges: list[float] | None,
    keys: pd.Series,
    predicted: np.ndarray,
    classes: int,
) -> SliceGroup:
    """One feature's slices with their held-out support and each class's predicted
    share (`classes` > 0: `predicted` holds class indices) or mean predicted value."""
    support, figures = [], []
    for value in values:
        hit = (keys == value).to_numpy()
        n = int(hit.sum())
        support.append(n)
        if classes:
            shares = np.bincount(predicted[hit], minlength=classes) / max(n, 1)
            figures.append(rounded(shares if n else [None] * classes))
        else:
            figures.append(float(predicted[hit].mean()) if n else None)
    if classes:
        per_task = {"class_rates": tuple(figures)}
    else:
        per_task = {"mean_prediction": rounded(figures)}
    return SliceGroup(
        feature=feature,
        source=source,
        values=tuple(values),
        band_edges=None if edges is None else tuple(float(e) for e in edges),
        support=tuple(support),
        positive_rate=(),
        f1=(),
        too_small=(),
        **per_task,
    )


def task_slice_groups(
    X: pd.DataFrame,
    predicted: np.ndarray,
    rules: tuple[FeatureRule, ...],
    sp: SliceParams,
    classes: int,
) -> tuple[SliceGroup, ...]:
    """A multiclass (class indices, `classes` of them) or regression (values) model's
    slices: the same slices as a binary model's, with the task's figure."""
    banded, plan = slice_plan(X, rules, sp)
    return tuple(
        task_slice_group(
            f, source, values, edges, slice_keys(banded[f]), predicted, classes
        )
        for f, source, values, edges in plan
    )


def reference_profile(
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    proba_test: np.ndarray,
    rules: tuple[FeatureRule, ...],
    threshold: float,
    slices: SliceParams,
    task: str = BINARY,
    classes: tuple[str, ...] = (),
) -> Profile:
    """The profile written to the bundle as reference.json. `proba_test` is what the
    engine gives: the positive class's probabilities (binary), the [n, k] class
    probabilities (multiclass, `classes` their display names) or the values."""
    features = tuple(
        (
            numeric_bins(r.name, X_train[r.name], r.nullable)
            if r.numeric
            else category_bins(r, X_train[r.name])
        )
        for r in rules
    )
    rule_figures = SliceRules(
        slices.min_support, float(slices.f1_margin), slices.min_positives
    )
    proba = np.asarray(proba_test, dtype=np.float64)
    common = {
        "rows": int(len(X_train)),
        "features": features,
        "prediction_rows": int(len(proba)),
        "slice_rules": rule_figures,
    }
    if task == BINARY:
        return Profile(
            **common,
            prediction=numeric_bins(PROBABILITY, proba),
            positive_rate=round(float((proba >= threshold).mean()), 6),
            slices=slice_groups(X_test, y_test, proba, rules, threshold, slices),
        )
    if task == MULTICLASS:
        predicted = np.argmax(proba, axis=1)
        shares = np.bincount(predicted, minlength=len(classes)) / len(predicted)
        return Profile(
            **common,
            prediction=ClassBins(CLASS, tuple(classes), rounded(shares)),
            positive_rate=None,
            slices=task_slice_groups(X_test, predicted, rules, slices, len(classes)),
            task=task,
        )
    return Profile(
        **common,
        prediction=numeric_bins(VALUE, proba),
        positive_rate=None,
        slices=task_slice_groups(X_test, proba, rules, slices, 0),
        task=task,
        mean_prediction=round(float(proba.mean()), 6),
    )
