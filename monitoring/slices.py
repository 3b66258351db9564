"""Slice arithmetic on labelled records: numeric columns cut into readable bands and
precision, recall and F1 per (feature, value) slice, with the weak ones flagged.

The evaluation (training/slicing.py, training/profile.py) and the monitoring report on
labelled live records (monitoring/report.py) compute slices with these same functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bundle.profile import MISSING, band_column

OTHER = "other"
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


def as_binary(values, name: str, n: int) -> np.ndarray:
    """values as a 0/1 int array of length n, or a ValueError naming them."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
    if not np.isin(arr, [0, 1]).all():
        raise ValueError(f"{name} must hold only 0/1")
    return arr.astype(int)


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


def slice_groups(frame: pd.DataFrame, features: list[str]):
    """(feature, value, row positions) of every slice, in display order: what the
    multiclass and regression slice tables score (NaN is the "(missing)" slice)."""
    for feature in features:
        column = frame[feature].reset_index(drop=True)
        keys = column.astype(object).where(column.notna(), MISSING)
        codes, uniques = pd.factorize(keys)
        position = {v: i for i, v in enumerate(uniques)}
        for value in _ordered_values(column, list(uniques)):
            yield feature, _native(value), np.flatnonzero(codes == position[value])


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
