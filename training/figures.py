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
from sklearn.metrics import roc_auc_score, roc_curve

from monitoring.rendering import BAR_COLOR, FLAG_COLOR, save_figure

DISPARITY_METRICS = ("fpr", "fnr", "pprev")


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


def slice_f1_png(table: pd.DataFrame, overall_f1: float, path: Path) -> Path:
    """Horizontal F1 bars of judgeable slices, overall F1 line, flagged bars in red."""
    rows = table[~table["too_small"].astype(bool)]
    labels = [f"{f} = {v}" for f, v in zip(rows["feature"], rows["value"])]
    colors = [FLAG_COLOR if f else BAR_COLOR for f in rows["flagged"].astype(bool)]
    fig = Figure(figsize=(7, max(2.5, 0.3 * len(rows) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    if len(rows):
        ax.barh(np.arange(len(rows)), rows["f1"], color=colors)
        ax.set_yticks(np.arange(len(rows)), labels=labels, fontsize=8)
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no judgeable slices", ha="center", va="center")
        ax.set_yticks([])
    line = ax.axvline(
        overall_f1, color="black", linestyle="--", label=f"overall {overall_f1:.3f}"
    )
    ax.set(xlim=(0, 1), xlabel="F1", title="F1 by slice")
    # Outside the axes: inside, the legend would hide the bars near F1 = 1.
    ax.legend(
        handles=[line, Patch(color=FLAG_COLOR, label="flagged")],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
    )
    return save_figure(fig, path)


def disparity_png(audit: dict, path: Path) -> Path:
    """Per attribute, each group's fpr/fnr/pprev disparity with the fair band shaded."""
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
    width = 0.8 / len(DISPARITY_METRICS)
    colors = ("tab:orange", "tab:purple", "tab:green")
    for ax, (attr, info) in zip(axes, attributes):
        groups = list(info["groups"].items())
        ax.axvspan(lo, hi, color="tab:green", alpha=0.15, label=f"fair [{lo}, {hi}]")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        for j, (metric, color) in enumerate(zip(DISPARITY_METRICS, colors)):
            ys = np.arange(len(groups)) + (j - 1) * width
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
