"""Slice-based evaluation: how the classifier does on each value of a feature.

Pure functions: `add_bands` turns numeric columns into readable bands, `slice_metrics`
scores every (feature, value) slice, `format_slices` renders the table as text and
`weakest_slices` picks the worst judgeable slices.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from bundle.profile import MISSING, band_column
from training.metrics import as_binary

OTHER = "other"
TOO_SMALL = "too small to judge"
COLUMNS = [
    "feature",
    "value",
    "support",
    "positives",
    "precision",
    "recall",
    "f1",
    "too_small",
    "flagged",
]


def _num(x: float) -> str:
    """An edge as text: integers without a decimal point."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _band_labels(edges: list[float]) -> list[str]:
    """Readable labels for the right-open intervals [lo, hi) between edges."""
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if math.isinf(lo) and math.isinf(hi):
            labels.append("all")
        elif math.isinf(lo):
            labels.append(f"<{_num(hi)}")
        elif math.isinf(hi):
            labels.append(f"{_num(lo)}+")
        elif float(lo).is_integer() and float(hi).is_integer():
            # Integer edges label a closed integer range ([25, 35) -> "25-34"): the
            # banded Adult columns (age, hours-per-week, ...) hold whole numbers.
            last = int(hi) - 1
            labels.append(_num(lo) if last == int(lo) else f"{_num(lo)}-{last}")
        else:
            labels.append(f"{_num(lo)}-<{_num(hi)}")
    return labels


def add_bands(df: pd.DataFrame, bands: dict[str, list[float]]) -> pd.DataFrame:
    """Copy of df with an ordered categorical band_column(col) ("age-band") per banded
    column.

    Intervals are right-open [lo, hi); a last edge of inf gives an open band ("65+").
    Values outside every interval get "other" so they remain a visible slice; missing
    values stay missing (slice_metrics reports them as "(missing)"), because missing
    data and out-of-range data are different problems.
    """
    out = df.copy()
    for col, edges in bands.items():
        edges = [float(e) for e in edges]
        if len(edges) < 2 or any(b <= a for a, b in zip(edges[:-1], edges[1:])):
            raise ValueError(f"band edges for {col!r} must be >= 2 increasing numbers")
        labels = _band_labels(edges)
        values = df[col]
        cut = pd.cut(values, bins=edges, right=False, labels=labels).astype(object)
        cut[values.notna() & cut.isna()] = OTHER
        out[band_column(col)] = pd.Categorical(
            cut, categories=[*labels, OTHER], ordered=True
        )
    return out


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 with 0.0 for an empty denominator (zero_division=0)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def _native(value: Any) -> Any:
    """numpy scalars as Python scalars, so the table serialises to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _ordered_values(column: pd.Series, present: list[Any]) -> list[Any]:
    """Slice values in display order: category order or sorted, missing last."""
    values = [v for v in present if v != MISSING]
    if isinstance(column.dtype, pd.CategoricalDtype):
        rank = {c: i for i, c in enumerate(column.cat.categories)}
        values.sort(key=lambda v: rank[v])
    else:
        try:
            values.sort()
        except TypeError:
            values.sort(key=str)
    return values + [MISSING] if MISSING in present else values


def slice_metrics(
    frame: pd.DataFrame,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    features: list[str],
    min_support: int,
    f1_margin: float,
    min_positives: int = 0,
) -> pd.DataFrame:
    """One row per (feature, value) with support, precision, recall, F1 and flags.

    y_true/y_pred are 0/1 and aligned with frame by position. NaN in a feature is its
    own "(missing)" slice. too_small: support < min_support or fewer true positives
    than min_positives (F1 of a handful of positives says nothing); flagged: judgeable and
    F1 < overall F1 - f1_margin. The overall F1, margin and min_support are kept in
    table.attrs for format_slices.
    """
    n = len(frame)
    yt = as_binary(y_true, "y_true", n)
    yp = as_binary(y_pred, "y_pred", n)
    overall_f1 = _prf(
        int(((yt == 1) & (yp == 1)).sum()),
        int(((yt == 0) & (yp == 1)).sum()),
        int(((yt == 1) & (yp == 0)).sum()),
    )[2]
    rows = []
    for feature in features:
        column = frame[feature].reset_index(drop=True)
        keys = column.astype(object).where(column.notna(), MISSING)
        codes, uniques = pd.factorize(keys)
        k = len(uniques)
        support = np.bincount(codes, minlength=k)
        positives = np.bincount(codes, weights=yt, minlength=k)
        tp = np.bincount(codes, weights=yt * yp, minlength=k)
        fp = np.bincount(codes, weights=(1 - yt) * yp, minlength=k)
        fn = np.bincount(codes, weights=yt * (1 - yp), minlength=k)
        position = {v: i for i, v in enumerate(uniques)}
        for value in _ordered_values(column, list(uniques)):
            i = position[value]
            precision, recall, f1 = _prf(int(tp[i]), int(fp[i]), int(fn[i]))
            too_small = bool(support[i] < min_support or positives[i] < min_positives)
            rows.append(
                {
                    "feature": feature,
                    "value": _native(value),
                    "support": int(support[i]),
                    "positives": int(positives[i]),
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "too_small": too_small,
                    "flagged": (not too_small) and f1 < overall_f1 - f1_margin,
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["value"] = table["value"].astype(object)
    table.attrs.update(
        overall_f1=overall_f1,
        f1_margin=float(f1_margin),
        min_support=int(min_support),
        min_positives=int(min_positives),
    )
    return table


def format_slices(table: pd.DataFrame, overall: dict[str, float]) -> str:
    """Plain-text slice report: overall scores, then one block per feature.

    The margin shown in FLAGGED markers comes from overall["f1_margin"] if given,
    else from table.attrs (set by slice_metrics).
    """
    margin = overall.get("f1_margin", table.attrs.get("f1_margin"))
    min_support = overall.get("min_support", table.attrs.get("min_support"))
    lines = [
        "Slice performance",
        f"Overall: precision {overall['precision']:.3f}  "
        f"recall {overall['recall']:.3f}  F1 {overall['f1']:.3f}",
    ]
    if margin is not None:
        rule = f"Flagged: F1 more than {margin:.3f} below overall F1"
        if min_support is not None:
            rule += f"; slices with support < {int(min_support)}"
            positives = table.attrs.get("min_positives")
            if positives:
                rule += f" or fewer than {int(positives)} positive labels"
            rule += " are too small to judge"
        lines.append(rule + ".")
    for feature, block in table.groupby("feature", sort=False):
        values = [str(v) for v in block["value"]]
        width = max(len("value"), *(len(v) for v in values))
        lines += [
            "",
            f"== {feature} ==",
            f"  {'value':<{width}}  {'support':>7}  {'precision':>9}  "
            f"{'recall':>6}  {'f1':>5}",
        ]
        for value, row in zip(values, block.itertuples(index=False)):
            line = (
                f"  {value:<{width}}  {row.support:>7d}  {row.precision:>9.3f}  "
                f"{row.recall:>6.3f}  {row.f1:>5.3f}"
            )
            if row.too_small:
                line += f"  {TOO_SMALL}"
            elif row.flagged:
                by = f"> {margin:.3f}" if margin is not None else "too much"
                line += f"  FLAGGED: F1 {row.f1:.3f} below overall by {by}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def weakest_slices(table: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The n judgeable (not too_small) slices with the lowest F1, lowest first."""
    judgeable = table[~table["too_small"].astype(bool)]
    # Stable sort: ties keep the table's feature/value order, so output is repeatable.
    return judgeable.sort_values("f1", kind="stable").head(n).reset_index(drop=True)
