"""Evaluation figures as PNG files.

Uses matplotlib.figure.Figure directly (Agg rendering, no pyplot global state). Each
function renders into memory, writes the PNG atomically (monitoring/rendering.py, shared
with the monitoring report) and returns its path.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from monitoring.rendering import BAR_COLOR, FLAG_COLOR, save_figure

DISPARITY_METRICS = ("fpr", "fnr", "pprev")
METRIC_COLORS = ("tab:orange", "tab:purple", "tab:green")


def _both_classes(y_true: ArrayLike) -> np.ndarray:
    """y_true as an array, or a ValueError when a class is absent."""
    y = np.asarray(y_true)
    if len(np.unique(y)) != 2:
        raise ValueError("y_true must contain both classes")
    return y


def roc_curve_png(y_true: ArrayLike, proba: ArrayLike, path: Path) -> Path:
    """ROC curve of the positive-class probabilities, with AUC and the chance line."""
    y = _both_classes(y_true)
    fpr, tpr, _ = roc_curve(y, proba)
    auc = roc_auc_score(y, proba)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color=BAR_COLOR, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="False positive rate",
        ylabel="True positive rate",
        title="ROC curve",
    )
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def calibration_png(
    y_true: ArrayLike, proba: ArrayLike, path: Path, n_bins: int = 10
) -> Path:
    """Reliability curve (observed vs predicted positive rate) with the diagonal."""
    y = _both_classes(y_true)
    p = np.asarray(proba, dtype=float)
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    fig = Figure(figsize=(5, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    top.plot(predicted, observed, marker="o", color=BAR_COLOR, label="model")
    top.set(
        xlim=(0, 1), ylim=(0, 1), ylabel="Observed positive rate", title="Calibration"
    )
    top.legend(loc="upper left")
    # The histogram shows how much data backs each point of the curve.
    bottom.hist(p, bins=n_bins, range=(0, 1), color=BAR_COLOR)
    bottom.set(xlabel="Predicted probability", ylabel="Count")
    return save_figure(fig, path)


def slice_f1_png(
    table: pd.DataFrame,
    overall_f1: float,
    path: Path,
    column: str = "f1",
    label: str = "F1",
) -> Path:
    """Horizontal bars of judgeable slices' `column` (F1; a regression's RMSE), the
    overall line, flagged bars in red."""
    rows = table[~table["too_small"].astype(bool)]
    labels = [f"{f} = {v}" for f, v in zip(rows["feature"], rows["value"])]
    colors = [FLAG_COLOR if f else BAR_COLOR for f in rows["flagged"].astype(bool)]
    fig = Figure(figsize=(7, max(2.5, 0.3 * len(rows) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    if len(rows):
        ax.barh(np.arange(len(rows)), rows[column], color=colors)
        ax.set_yticks(np.arange(len(rows)), labels=labels, fontsize=8)
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no judgeable slices", ha="center", va="center")
        ax.set_yticks([])
    line = ax.axvline(
        overall_f1, color="black", linestyle="--", label=f"overall {overall_f1:.3f}"
    )
    # A score lies in [0, 1]; an error is as large as the target's scale.
    top = 1 if column.startswith("f1") else 1.1 * max([overall_f1, *rows[column]])
    ax.set(xlim=(0, top), xlabel=label, title=f"{label} by slice")
    # Outside the axes: inside, the legend would hide the bars near F1 = 1.
    ax.legend(
        handles=[line, Patch(color=FLAG_COLOR, label="flagged")],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
    )
    return save_figure(fig, path)


def confusion_matrix_png(y_true, y_pred, names: list[str], path: Path) -> Path:
    """Counts of each actual class (rows) predicted as each class (columns), with each
    row's share as the colour: the diagonal is what the model gets right."""
    k = len(names)
    counts = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    totals = counts.sum(axis=1, keepdims=True)
    shares = counts / np.where(totals == 0, 1, totals)
    fig = Figure(figsize=(1.5 + 0.7 * k, 1.2 + 0.6 * k), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            dark = shares[i, j] > 0.5
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=8,
            )
    ticks = np.arange(k)
    ax.set_xticks(ticks, labels=names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels=names, fontsize=8)
    ax.set(xlabel="Predicted class", ylabel="Actual class", title="Confusion matrix")
    fig.colorbar(image, ax=ax, label="Share of the actual class")
    return save_figure(fig, path)


def predicted_vs_actual_png(y_true, value, path: Path) -> Path:
    """Each test record's predicted value against its actual one, with the diagonal."""
    t, p = np.asarray(y_true, dtype=float), np.asarray(value, dtype=float)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(t, p, s=6, alpha=0.4, color=BAR_COLOR, label="test record")
    ax.plot(
        [lo, hi], [lo, hi], linestyle="--", color="grey", label="predicted = actual"
    )
    ax.set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual")
    ax.legend(loc="upper left")
    return save_figure(fig, path)


def residuals_png(y_true, value, path: Path, n_bins: int = 30) -> Path:
    """Residuals (actual - predicted) against the prediction, and their histogram."""
    p = np.asarray(value, dtype=float)
    residual = np.asarray(y_true, dtype=float) - p
    fig = Figure(figsize=(5, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    top.scatter(p, residual, s=6, alpha=0.4, color=BAR_COLOR)
    top.axhline(0, linestyle="--", color="grey")
    top.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals")
    bottom.hist(residual, bins=n_bins, color=BAR_COLOR)
    bottom.set(xlabel="Actual - predicted", ylabel="Count")
    return save_figure(fig, path)


def disparity_png(
    audit: dict, path: Path, shown: tuple[str, ...] = DISPARITY_METRICS
) -> Path:
    """Per attribute, each group's disparity on the `shown` metrics (fpr/fnr/pprev)
    with the fair band shaded."""
    lo, hi = audit["band"]
    attributes = list(audit["attributes"].items())
    heights = [max(1, len(info["groups"])) for _, info in attributes] or [1]
    fig = Figure(
        figsize=(7, 1.2 + 0.6 * sum(heights) + 0.8 * len(heights)),
        layout="constrained",
    )
    axes = fig.subplots(
        len(heights), 1, squeeze=False, gridspec_kw={"height_ratios": heights}
    )[:, 0]
    width = 0.8 / len(shown)
    colors = (
        METRIC_COLORS if len(shown) <= 3 else [f"C{j % 10}" for j in range(len(shown))]
    )
    for ax, (attr, info) in zip(axes, attributes):
        groups = list(info["groups"].items())
        ax.axvspan(lo, hi, color="tab:green", alpha=0.15, label=f"fair [{lo}, {hi}]")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        for j, (metric, color) in enumerate(zip(shown, colors)):
            ys = np.arange(len(groups)) + (j - (len(shown) - 1) / 2) * width
            xs = [rec["disparity"].get(metric) for _, rec in groups]
            # An undefined disparity (None) has no bar; "n/a" says why it is missing.
            ax.barh(
                ys,
                [0.0 if x is None else x for x in xs],
                height=width,
                color=color,
                label=metric,
            )
            for y, x in zip(ys, xs):
                if x is None or (isinstance(x, float) and math.isnan(x)):
                    ax.text(0.02, y, "n/a", va="center", fontsize=7)
        ax.set_yticks(np.arange(len(groups)), labels=[g for g, _ in groups])
        ax.invert_yaxis()
        ax.set_title(f"{attr} (reference: {info['reference']})", fontsize=10)
        ax.set_xlabel("Disparity (group / reference)")
        ax.set_xlim(left=0, right=max(ax.get_xlim()[1], hi * 1.1))
    if not attributes:
        axes[0].text(0.5, 0.5, "no attributes audited", ha="center", va="center")
    else:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return save_figure(fig, path)
