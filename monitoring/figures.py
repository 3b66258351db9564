"""The monitoring report's figures as PNG files, in the model card's style
(Figure objects, no pyplot state, atomic writes: monitoring/rendering.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from monitoring.stability import PSI_SIGNIFICANT
from monitoring.rendering import BAR_COLOR, FLAG_COLOR, save_figure

REFERENCE_COLOR = "lightgrey"
COLUMNS = 3
# Slices with fewer records than this (live or held-out) are left out of the rates
# figure and table: their rates are mostly noise.
MIN_SUPPORT = 30


def _bars(ax, bins: list[dict], title: str, flagged: bool) -> None:
    """Reference vs live share per bin, side by side."""
    x = np.arange(len(bins))
    ref = [b["reference_share"] for b in bins]
    live = [b["share"] or 0.0 for b in bins]
    ax.bar(x - 0.2, ref, 0.4, color=REFERENCE_COLOR, label="training")
    ax.bar(x + 0.2, live, 0.4, color=FLAG_COLOR if flagged else BAR_COLOR, label="live")
    ax.set_xticks(x, [b["bin"] for b in bins], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, color=FLAG_COLOR if flagged else "black", fontsize=10)
    ax.set_ylabel("share", fontsize=8)


def feature_histograms(features: list[dict], path: Path) -> Path:
    """Every feature's reference vs live histogram, most drifted first."""
    rows = math.ceil(len(features) / COLUMNS)
    fig = Figure(figsize=(4.2 * COLUMNS, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, COLUMNS, squeeze=False).ravel()
    for ax, feature in zip(axes, features):
        value = feature["psi"]
        shown = "n/a" if value is None else f"{value:.3f}"
        drifted = value is not None and value > PSI_SIGNIFICANT
        _bars(ax, feature["bins"], f"{feature['name']} (PSI {shown})", drifted)
    for ax in axes[len(features) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle("Training (grey) vs live share per bin; red: PSI above 0.2")
    return save_figure(fig, path)


def prediction_png(prediction: dict, path: Path) -> Path:
    """The predicted probability's bins, training vs live."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    value = prediction["psi"]
    drifted = value is not None and value > PSI_SIGNIFICANT
    shown = "n/a" if value is None else f"{value:.3f}"
    _bars(ax, prediction["bins"], f"Predicted probability (PSI {shown})", drifted)
    ax.legend()
    return save_figure(fig, path)


def slice_rates_png(slices: list[dict], path: Path, top: int = 20) -> Path:
    """Predicted-positive rate of the slices that moved most: training vs live."""
    rows = [
        (f"{g['feature']}={v['value']}", v)
        for g in slices
        for v in g["values"]
        if v["positive_rate"] is not None
        and v["reference_positive_rate"] is not None
        and min(v["records"], v["reference_support"]) >= MIN_SUPPORT
    ]
    rows.sort(key=lambda r: -abs(r[1]["z"] or 0.0))
    rows = rows[:top][::-1]
    fig = Figure(figsize=(8, 0.35 * len(rows) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ref = [v["reference_positive_rate"] for _, v in rows]
    live = [v["positive_rate"] for _, v in rows]
    colors = [FLAG_COLOR if v.get("far_from_training") else BAR_COLOR for _, v in rows]
    ax.hlines(y, ref, live, color="grey", linewidth=1)
    ax.scatter(
        ref, y, color=REFERENCE_COLOR, edgecolor="black", label="training", zorder=3
    )
    ax.scatter(live, y, color=colors, label="live", zorder=3)
    ax.set_yticks(y, [name for name, _ in rows], fontsize=8)
    ax.set(
        xlim=(0, 1),
        xlabel="predicted-positive rate",
        title=f"Slices furthest from training, >= {MIN_SUPPORT} records "
        "(red: far from training)",
    )
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def slice_f1_png(table: pd.DataFrame, path: Path) -> Path:
    """F1 per judgeable slice on labelled live records, against training's."""
    judged = table[~table["too_small"].astype(bool)].copy()
    judged["name"] = judged["feature"] + "=" + judged["value"].astype(str)
    judged = judged.sort_values("f1").head(25)[::-1]
    fig = Figure(figsize=(8, 0.35 * len(judged) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(judged))
    colors = [FLAG_COLOR if f else BAR_COLOR for f in judged["flagged"]]
    ax.barh(y, judged["f1"], color=colors, label="live F1")
    trained = judged["training_f1"].astype(float)
    ax.scatter(trained, y, color="black", marker="|", s=200, label="training F1")
    overall = table.attrs.get("overall_f1")
    if overall is not None:
        ax.axvline(overall, linestyle="--", color="grey", label="live overall F1")
    ax.set_yticks(y, judged["name"], fontsize=8)
    ax.set(xlim=(0, 1), xlabel="F1", title="Live slice F1 (red: weak slice)")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)
